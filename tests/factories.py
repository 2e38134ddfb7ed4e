"""Builders for test data. Concerns are made through the services, the way people
make them, so a test never starts from a state the product cannot reach."""

import itertools

from accounts.models import Department, Role, User
from concerns import services
from concerns.models import Concern, Tag

_counter = itertools.count(1)


def person(*, role: str = Role.EMPLOYEE, department: Department | None = None, **extra) -> User:
    n = next(_counter)
    username = extra.pop("username", f"person{n}")
    return User.objects.create_user(
        username=username,
        password=extra.pop("password", "correct horse battery staple"),
        email=extra.pop("email", f"{username}@example.test"),
        first_name=extra.pop("first_name", "Pat"),
        last_name=extra.pop("last_name", f"Example{n}"),
        role=role,
        department=department,
        **extra,
    )


def moderator(**extra) -> User:
    return person(role=Role.MODERATOR, **extra)


def leader(**extra) -> User:
    return person(role=Role.LEADER, **extra)


def department(name: str | None = None, *, size: int = 0) -> Department:
    dept = Department.objects.create(name=name or f"Department {next(_counter)}")
    for _ in range(size):
        person(department=dept)
    return dept


def tag(name: str | None = None) -> Tag:
    name = name or f"Tag {next(_counter)}"
    return Tag.objects.create(name=name, slug=name.lower().replace(" ", "-"))


def submission(
    *,
    author: User | None = None,
    anonymous: bool = False,
    title: str | None = None,
    body: str = "Something that worries me.",
    **extra,
) -> services.Submission:
    if author is None and not anonymous:
        author = person()
    return services.concern_submit(
        author=author,
        anonymous=anonymous,
        title=title or f"Concern {next(_counter)}",
        body=body,
        **extra,
    )


def open_concern(*, moderated_by: User | None = None, **extra) -> Concern:
    return published(submission(**extra).concern, moderated_by or moderator())


def published(concern: Concern, moderator: User) -> Concern:
    """Approves a concern and, if it is anonymous, runs the publication batch that
    publishes it (approval alone leaves an anonymous concern waiting for the batch)."""
    concern = services.concern_approve(concern=concern, moderator=moderator)
    if concern.is_anonymous:
        services.publication_batch()
        concern.refresh_from_db()
    return concern
