"""The validated shape every accepted conversation takes, whatever its source format."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["user", "assistant", "system", "tool"]


class Message(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: Role
    text: str


class Conversation(BaseModel):
    """One conversation after normalisation.

    `conversation_id` and `user_id` are the source's own identifiers (private: they never leave
    the private DB). `timestamp` is timezone-aware UTC or None when the source has none.
    """

    model_config = ConfigDict(frozen=True)

    conversation_id: str
    user_id: str | None = None
    timestamp: datetime | None = None
    messages: tuple[Message, ...] = Field(min_length=1)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def user_texts(self) -> list[str]:
        return [m.text for m in self.messages if m.role == "user"]

    def first_user_text(self) -> str:
        return next(m.text for m in self.messages if m.role == "user")
