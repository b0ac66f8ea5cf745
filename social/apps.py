from django.apps import AppConfig


class SocialConfig(AppConfig):
    name = "social"
    verbose_name = "Social"

    def ready(self) -> None:
        from config import metrics

        def live_rooms() -> int:
            from social.selectors import room_live_count

            return room_live_count()

        metrics.gauge_fn("live_rooms", live_rooms, "rooms currently live (active or in grace)")
