"""Who is acting: a signed-in user, an API token, the CLI operator or the scheduler."""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field

OPERATOR = "operator"  # a shell on the server: full rights, recorded as cli:<os user>


@dataclass(frozen=True)
class Actor:
    label: (
        str  # what the audit trail records: user:<email>, token:<name>, cli:<os user>, system:<job>
    )
    role: str | None
    user_id: int | None = None
    token_id: int | None = None
    name: str = ""  # printed name, for sign-offs
    scopes: tuple[str, ...] = field(default=())

    @classmethod
    def for_user(cls, user) -> Actor:  # noqa: ANN001 - avoids importing the model here
        return cls(
            label=user.actor_label, role=user.role, user_id=user.id, name=user.name or user.email
        )

    @classmethod
    def for_token(cls, token) -> Actor:  # noqa: ANN001
        return cls(
            label=token.actor_label,
            role=None,
            token_id=token.id,
            name=token.name,
            scopes=tuple(token.scopes),
        )

    @classmethod
    def cli_operator(cls) -> Actor:
        user = getpass.getuser()
        return cls(label=f"cli:{user}", role=OPERATOR, name=user)

    @classmethod
    def system(cls, job: str) -> Actor:
        return cls(label=f"system:{job}", role=OPERATOR, name=f"scheduler ({job})")

    @property
    def is_operator(self) -> bool:
        return self.role == OPERATOR

    def has_role(self, *roles: str) -> bool:
        return self.is_operator or self.role in roles
