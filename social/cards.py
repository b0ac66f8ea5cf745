"""The public card of a user: what other users may see (queue entries, invites, rooms, history)."""

from __future__ import annotations


def user_card(user) -> dict:
    return {
        "id": str(user.public_id),
        "name": user.name,
        "gender": user.gender,
        "bio": user.bio,
        "instagram_handle": user.instagram_handle,
        "photo_url": user.photo.url if user.photo else None,
        "intro_video_url": user.intro_video.url if user.intro_video else None,
    }
