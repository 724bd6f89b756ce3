"""Where an alert points people: the dashboard, the runbook entry, the alarm itself."""

from __future__ import annotations

from dataclasses import dataclass

from propensity.alerting.alarm import AlarmNotification


@dataclass(frozen=True)
class AlertLinks:
    dashboard_url: str
    runbook_url: str

    def runbook_for(self, alarm: AlarmNotification) -> str:
        """The alarm's own runbook entry, else the runbook's top (alarms from elsewhere)."""
        return alarm.parsed_description.runbook or self.runbook_url

    def runbook_label(self, alarm: AlarmNotification) -> str:
        url = self.runbook_for(alarm)
        return f"Runbook: {url.split('#', 1)[1]}" if "#" in url else "Runbook"
