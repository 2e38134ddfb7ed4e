"""Single sign-on through OpenID Connect, on top of mozilla-django-oidc.

The provider vouches for a person's email address; the person is found by it, or
created with an unusable password. With OIDC_ROLE_GROUPS set, the provider's groups
decide the person's role at every sign-in, so someone removed from a group loses the
role the next time they sign in. Nothing from the provider (claims, tokens) is kept
beyond the person's own row: the session holds only who is signed in.

Every way a sign-in can fail ends on a page that says why, never on a server error.
"""

import logging
import secrets
from collections.abc import Iterable

import jwt
import requests
from django.conf import settings
from django.contrib import auth
from django.core.exceptions import SuspiciousOperation, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from mozilla_django_oidc.auth import OIDCAuthenticationBackend, default_username_algo
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView

from accounts.models import Department, Role, User
from concerns import throttles
from concerns.errors import RateLimited

LOGGER = logging.getLogger(__name__)

# When a person is in groups for several roles, the first of these wins.
ROLE_PRECEDENCE = (Role.ADMIN, Role.LEADER, Role.MODERATOR, Role.EMPLOYEE)


class SignInRefused(Exception):
    """A single sign-on attempt that must not sign anyone in; the message is for the
    person who tried, and names no claim or token."""

    def __init__(self, message: str, *, status: int = 403):
        super().__init__(message)
        self.status = status


def provider_name() -> str:
    return settings.OIDC_PROVIDER_NAME


def _unverifiable() -> SignInRefused:
    return SignInRefused(
        f"The answer from {provider_name()} could not be verified, so you were not "
        "signed in. Please try again; if it keeps happening, tell your administrator."
    )


def _unreachable() -> SignInRefused:
    return SignInRefused(
        f"{provider_name()} did not answer properly, so you were not signed in. "
        "Please try again in a few minutes.",
        status=502,
    )


def groups_from_claims(claims: dict) -> list[str]:
    groups = claims.get(settings.OIDC_GROUPS_CLAIM)
    if isinstance(groups, str):
        return [groups]
    if isinstance(groups, list | tuple):
        return [group for group in groups if isinstance(group, str)]
    return []


def role_for_groups(groups: Iterable[str], role_groups: dict[str, list[str]]) -> str:
    """The highest role any of the groups maps to; employee when none does."""
    held = set(groups)
    for role in ROLE_PRECEDENCE:
        if held.intersection(role_groups.get(role, ())):
            return role
    return Role.EMPLOYEE


def email_is_verified(claims: dict) -> bool:
    # Some providers send no email_verified at all; they vouch for every address they
    # issue. Some (Cognito) send the string "false".
    verified = claims.get("email_verified", True)
    if isinstance(verified, str):
        return verified.strip().lower() == "true"
    return verified is not False


class SignInBackend(OIDCAuthenticationBackend):
    """Finds or creates the person a verified OpenID Connect sign-in names."""

    def authenticate(self, request, **kwargs):
        # Only the SSO callback passes a nonce. Without this check a password sign-in
        # posted to a URL carrying ?code=&state= would make a call to the provider.
        if "nonce" not in kwargs:
            return None
        return super().authenticate(request, **kwargs)

    def get_user(self, user_id):
        # Like ModelBackend, and unlike mozilla-django-oidc: deactivating someone ends
        # the sessions they already have.
        person = super().get_user(user_id)
        return person if person is not None and self.user_can_authenticate(person) else None

    def get_token(self, payload):
        try:
            token_info = super().get_token(payload)
        except (requests.RequestException, ValueError) as error:
            LOGGER.warning("single sign-on: the token endpoint failed: %s", type(error).__name__)
            raise _unreachable() from error
        if not isinstance(token_info, dict) or not isinstance(token_info.get("id_token"), str):
            raise _unverifiable()
        return token_info

    def verify_token(self, token, **kwargs):
        try:
            return super().verify_token(token, **kwargs)
        except requests.RequestException as error:
            LOGGER.warning("single sign-on: the JWKS endpoint failed: %s", type(error).__name__)
            raise _unreachable() from error
        except (SuspiciousOperation, jwt.PyJWTError, KeyError, TypeError, ValueError) as error:
            LOGGER.warning("single sign-on: a token was refused: %s", error)
            raise _unverifiable() from error

    def get_userinfo(self, access_token, id_token, payload):
        try:
            userinfo = super().get_userinfo(access_token, id_token, payload)
        except (requests.RequestException, ValueError) as error:
            LOGGER.warning("single sign-on: the userinfo endpoint failed: %s", type(error).__name__)
            raise _unreachable() from error
        # OpenID Connect Core 5.3.2: userinfo about anyone else must not be used.
        if not isinstance(userinfo, dict) or userinfo.get("sub") != payload.get("sub"):
            LOGGER.warning("single sign-on: userinfo does not describe the id_token's subject")
            raise _unverifiable()
        # Some providers put groups in the id_token only; userinfo is fresher for the rest.
        return {**payload, **userinfo}

    def get_or_create_user(self, access_token, id_token, payload):
        self.check_id_token(payload)
        return super().get_or_create_user(access_token, id_token, payload)

    def check_id_token(self, payload: dict) -> None:
        """What mozilla-django-oidc leaves out: the token must be for this client (it
        skips the audience), from the configured issuer, expiring, and about someone."""
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        problem = None
        if self.OIDC_RP_CLIENT_ID not in audiences:
            problem = "it was issued for another client"
        elif settings.OIDC_OP_ISSUER and payload.get("iss") != settings.OIDC_OP_ISSUER:
            problem = "its issuer is not OIDC_OP_ISSUER"
        elif "exp" not in payload:
            problem = "it has no expiry"
        elif not payload.get("sub"):
            problem = "it has no subject"
        if problem:
            LOGGER.warning("single sign-on: an id_token was refused: %s", problem)
            raise _unverifiable()

    def verify_claims(self, claims):
        email = claims.get("email")
        if not isinstance(email, str) or not email.strip():
            raise SignInRefused(
                f"Your {provider_name()} account has no email address, and Answerable "
                "needs one to recognise you. Ask your administrator to add one."
            )
        try:
            validate_email(email.strip())
        except ValidationError as error:
            raise SignInRefused(
                f"The email address of your {provider_name()} account is not valid, so "
                "Answerable cannot recognise you. Ask your administrator to correct it."
            ) from error
        if not email_is_verified(claims):
            raise SignInRefused(
                f"The email address of your {provider_name()} account is not verified. "
                f"Verify it with {provider_name()}, then sign in again."
            )
        return True

    def filter_users_by_claims(self, claims):
        users = self.UserModel.objects.filter(email__iexact=claims["email"].strip())
        if len(users) > 1:
            raise SignInRefused(
                "More than one Answerable account has your email address. An "
                f"administrator must resolve this before you can sign in with {provider_name()}."
            )
        return users

    @transaction.atomic
    def create_user(self, claims):
        email = User.objects.normalize_email(claims["email"].strip())
        person = User(username=self.free_username(claims, email), email=email)
        person.set_unusable_password()
        apply_claims(person, claims)
        person.save()
        return person

    @transaction.atomic
    def update_user(self, user, claims):
        apply_claims(user, claims)
        user.save()
        return user

    def free_username(self, claims: dict, email: str) -> str:
        preferred = claims.get("preferred_username")
        candidates = [preferred.strip() if isinstance(preferred, str) else "", email]
        candidates.append(default_username_algo(email))
        for candidate in candidates:
            usable = candidate and len(candidate) <= 150
            if usable and not User.objects.filter(username__iexact=candidate).exists():
                return candidate
        return f"{default_username_algo(email)}-{secrets.token_hex(4)}"


def apply_claims(person: User, claims: dict) -> None:
    """Copies what the provider says about a person onto their row (unsaved)."""
    given, family, name = (claims.get(key) for key in ("given_name", "family_name", "name"))
    if isinstance(given, str) or isinstance(family, str):
        person.first_name = (given if isinstance(given, str) else "").strip()[:150]
        person.last_name = (family if isinstance(family, str) else "").strip()[:150]
    elif isinstance(name, str) and name.strip():
        person.first_name, person.last_name = name.strip()[:150], ""
    # Without a mapping, roles are managed in Answerable's admin and left alone here.
    if settings.OIDC_ROLE_GROUPS:
        person.role = role_for_groups(groups_from_claims(claims), settings.OIDC_ROLE_GROUPS)
        # /admin/ (people, departments, settings) goes with the admin role, as for
        # people made with createsuperuser; leaving the group takes it away.
        person.is_staff = person.is_superuser = person.role == Role.ADMIN
    department = (
        claims.get(settings.OIDC_DEPARTMENT_CLAIM) if settings.OIDC_DEPARTMENT_CLAIM else None
    )
    if isinstance(department, str) and department.strip():
        person.department = department_named(department.strip()[:120])


def department_named(name: str) -> Department:
    existing = Department.objects.filter(name__iexact=name).first()
    if existing is not None:
        return existing
    department, _ = Department.objects.get_or_create(name=name)
    return department


class SignInCallbackView(OIDCAuthenticationCallbackView):
    """Where the provider sends the browser back. Ends on the page asked for, or on a
    page that says why nobody was signed in."""

    def get(self, request):
        try:
            throttles.limit(
                scope="sso-callback",
                bucket=throttles.client_bucket(request),
                per_period=settings.SIGN_INS_PER_MINUTE * 3,
                period=60,
                message="Too many sign-in attempts. Please wait a minute and try again.",
            )
        except RateLimited as error:
            return render(request, "429.html", {"message": str(error)}, status=429)

        state = request.GET.get("state", "")
        states = request.session.get("oidc_states")
        known = isinstance(states, dict) and state in states
        if request.GET.get("error"):
            # The person cancelled, or the provider refused them. Unlike the library's
            # own handling this does not sign anybody out: a link could do that.
            if known:
                del states[state]
                request.session.modified = True
            return refused(
                request,
                f"{provider_name()} did not sign you in. You can try again, or sign in "
                "with your Answerable password if you have one.",
                status=403,
            )
        if not known or not request.GET.get("code"):
            return refused(
                request,
                "This sign-in attempt has expired or was already used. Please start again.",
                status=400,
            )
        try:
            return super().get(request)
        except SignInRefused as refusal:
            return refused(request, str(refusal), status=refusal.status)

    def login_success(self):
        next_url = self.request.session.pop("oidc_login_next", None)
        if self.request.user != self.user:
            auth.login(self.request, self.user)
        return HttpResponseRedirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))

    def login_failure(self):
        person = getattr(self, "user", None)
        if person is not None and not person.is_active:
            message = "Your Answerable account is deactivated. Ask an administrator."
        else:
            message = f"{provider_name()} did not sign you in. Please try again."
        return refused(self.request, message, status=403)


def refused(request, message: str, *, status: int) -> HttpResponse:
    return render(request, "accounts/sign_in_refused.html", {"message": message}, status=status)
