from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Project-wide infrastructure: health checks, doctor, clock, errors, rate limits."""

    name = "config"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from config import observability

        observability.connect_signals()
        observability.register_pool_gauges()
