import pytest
from django.urls import reverse

from concerns import services
from concerns.models import Status
from tests import factories

pytestmark = pytest.mark.django_db


def test_a_named_concern_travels_from_submission_to_open_with_votes(client):
    author = factories.person()
    client.force_login(author)
    response = client.post(
        reverse("concerns:new"),
        {
            "title": "Facial recognition sales",
            "body": "Why do we *sell* this?",
            "identity": "named",
        },
    )
    assert response.status_code == 302
    concern = author.concerns.get()
    assert concern.status == Status.SUBMITTED
    services.concern_approve(concern=concern, moderator=factories.moderator())
    client.post(reverse("concerns:vote", args=[concern.pk]), {"action": "cast"})
    page = client.get(reverse("concerns:detail", args=[concern.pk]))
    assert "<em>sell</em>" in page.content.decode()
    assert '<span class="count">1</span> vote' in page.content.decode()
