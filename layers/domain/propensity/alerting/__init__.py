"""Alert routing: parse CloudWatch alarm notifications and deliver them to people.

critical alarms page through PagerDuty (Events API v2), warning (and critical) alarms post
to Slack, info alarms are summarised once a day in a digest. Delivery retries with
exponential backoff and then raises, so the Lambda on-failure destination (a dead-letter
queue with its own alarm) receives what could not be delivered: no alert is silently lost.
"""
