"""Channel-layer group names (the one place they are spelled)."""


def user_group(user_id: int) -> str:
    """Every socket of one user, on every process."""
    return f"user.{user_id}"


def room_group(room_id) -> str:
    """Both participants' sockets of a live room."""
    return f"room.{room_id}"
