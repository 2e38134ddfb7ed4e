from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from ledger import selectors


@login_required
@require_http_methods(["GET", "POST"])
def ledger(request: HttpRequest) -> HttpResponse:
    """The public ledger: its head, its entries, and a check of the whole chain,
    optionally against a head published earlier."""
    verification, anchor_error, anchor_text = None, "", ""
    if request.method == "POST":
        anchor_text = request.POST.get("anchor", "").strip()
        anchor = None
        if anchor_text:
            try:
                anchor = selectors.Anchor.parse(anchor_text)
            except ValueError as error:
                anchor_error = str(error)
        if not anchor_error:
            verification = selectors.ledger_verify(anchor=anchor)
    try:
        if request.GET.get("entry"):
            page_number = selectors.ledger_page_of(sequence=int(request.GET["entry"]))
        else:
            page_number = int(request.GET.get("page", 1))
    except ValueError:
        page_number = 1
    return render(
        request,
        "ledger/ledger.html",
        {
            "head": selectors.ledger_head(),
            "published_heads": selectors.published_heads(),
            "page": selectors.ledger_page(page=page_number),
            "verification": verification,
            "anchor_error": anchor_error,
            "anchor_text": anchor_text,
        },
        status=400 if anchor_error else 200,
    )
