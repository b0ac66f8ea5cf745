"""Small helpers shared by the invites tests."""


def signup(api, *, ip="10.1.0.1", **body):
    """POST /api/auth/guest from ``ip`` (distinct ips keep the per-network sign-up limit out of the way)."""
    body.setdefault("name", "Newbie")
    return api.post("/api/auth/guest", body, format="json", REMOTE_ADDR=ip)
