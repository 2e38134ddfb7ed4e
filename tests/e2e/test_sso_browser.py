"""Single sign-on in a real browser: Chromium follows the button on the sign-in page to
the OpenID Connect provider the test runs, and back, under the site's real CSP."""

import pytest
from django.urls import reverse

from accounts.models import Role, User
from tests.accounts.oidc_provider import PROVIDER_NAME, Provider, ProviderServer, sso_settings

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT_MS = 10_000
GRACE = {
    "sub": "grace-0002",
    "email": "grace@example.test",
    "email_verified": True,
    "given_name": "Grace",
    "family_name": "Hopper",
    "preferred_username": "grace",
    "groups": ["answerable-moderators"],
}


@pytest.mark.e2e
def test_a_person_signs_in_with_the_provider_in_chromium_and_signs_out_again(
    asgi_live_server, chromium
):
    from playwright.sync_api import expect

    mine = reverse("concerns:mine")
    problems: list[str] = []

    def console(message) -> None:
        # Browsers ask for /favicon.ico by themselves; the site has none.
        if message.type == "error" and not message.location["url"].endswith("/favicon.ico"):
            problems.append(message.text)

    with (
        ProviderServer(Provider(person=dict(GRACE))) as provider,
        sso_settings(provider),
        chromium() as browser,
    ):
        page = browser.new_page(base_url=asgi_live_server)
        page.set_default_timeout(TIMEOUT_MS)
        page.on("console", console)
        page.goto(f"/accounts/sign-in/?next={mine}")
        button = page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}")
        expect(button).to_be_visible()

        button.click()

        page.wait_for_url(f"{asgi_live_server}{mine}")
        sign_out = page.get_by_role("button", name="Sign out Grace Hopper")
        expect(sign_out).to_be_visible()
        expect(page.get_by_role("link", name="Moderation")).to_be_visible()
        sign_out.click()
        page.wait_for_url(f"{asgi_live_server}/accounts/sign-in/")
        expect(page.get_by_role("link", name="Sign in", exact=True)).to_be_visible()

    person = User.objects.get(email="grace@example.test")
    assert person.role == Role.MODERATOR
    assert not person.has_usable_password()
    assert problems == []
