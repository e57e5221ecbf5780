"""Schedules and sensors: the nightly refresh, file-change sensors, failure alerts and the
declarative-automation sensor.

Everything ships stopped; docs/operations.md says how to turn each on in the UI. `definitions.py`
wires `schedules` and `sensors` into the code location.
"""

from sensors.alerts import alert_sensors, run_failure_alert
from sensors.automation import follow_upstream
from sensors.file_sensors import file_sensors, human_files_sensor, review_decisions_sensor, seed_files_sensor
from sensors.schedules import nightly_refresh, refresh_schedule, schedules

__all__ = [
    "follow_upstream",
    "human_files_sensor",
    "nightly_refresh",
    "refresh_schedule",
    "review_decisions_sensor",
    "run_failure_alert",
    "schedules",
    "seed_files_sensor",
    "sensors",
]

sensors = [*file_sensors, *alert_sensors, follow_upstream]
