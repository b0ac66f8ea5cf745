from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Realtime"

    def ready(self) -> None:
        from config import metrics

        def online_users() -> int:
            from presence import online_user_count

            return online_user_count()

        metrics.gauge_fn("online_users", online_users, "users with at least one live socket (all processes)")
