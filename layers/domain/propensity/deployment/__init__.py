"""Deployment checks run by CodeDeploy's lifecycle hooks (BeforeAllowTraffic, AfterAllowTraffic).

``hooks`` holds the logic (replay golden requests, judge answers, report a verdict); it talks to
AWS only through the small interfaces in ``ports`` (``aws`` implements them with boto3).
"""
