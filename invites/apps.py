from django.apps import AppConfig


class InvitesConfig(AppConfig):
    name = "invites"
    verbose_name = "Invites"

    def ready(self) -> None:
        from invites.services import invite_codes_unlock
        from social.services import on_calls_completed

        # the earned code is minted in the transaction that records the K-th completed call
        on_calls_completed(invite_codes_unlock)
