"""The inspector page in a real headless browser (Playwright driving Debian's chromium): rows with their verdicts,
the source filter, and a new delivery appearing without a reload.

Playwright's own browser download cannot run here (no host to fetch it from): the test drives the system's
chromium (CHROMIUM, else /usr/bin/chromium or `chromium` on PATH), and FAILS, never skips, when there is none or
Playwright is not installed, so that CI cannot pass without having run it.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from heymarket_local.inspector.server import Inspector
from heymarket_local.stack import LocalStack, LocalStackConfig
from tests.support import demo_webhook_secrets

pytestmark = pytest.mark.e2e


def chromium_path() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found or not os.path.exists(found):
        pytest.fail(
            "the inspector's browser test needs Debian's chromium (apt-get install chromium) or CHROMIUM=/path/to/it; "
            "Playwright's own browser download is not used",
            pytrace=False,
        )
    return found


def post(url: str, body: Any, token: str) -> int:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-Bridge-Token": token},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.fixture
def inspected() -> Iterator[tuple[LocalStack, Inspector]]:
    inspector = Inspector()
    config = LocalStackConfig(
        webhook_secrets=demo_webhook_secrets(), retry_delay_s=1, parameter_overrides={"BatchingWindowSeconds": 1}
    )
    with LocalStack(config, on_exchange=inspector.on_exchange, on_batch=inspector.on_batch) as stack:
        inspector.start(stack.sandbox)
        try:
            yield stack, inspector
        finally:
            inspector.stop()


@pytest.fixture
def page() -> Iterator[Any]:
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ModuleNotFoundError:
        pytest.fail("the inspector's browser test needs playwright: pip install -e '.[dev]'", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_the_inspector_shows_deliveries_filters_them_and_updates_live(
    inspected: tuple[LocalStack, Inspector], page: Any
) -> None:
    from playwright.sync_api import expect

    stack, inspector = inspected
    secrets = demo_webhook_secrets()
    # Given a valid generic delivery and a Typeform delivery with a wrong signature
    assert post(stack.webhook_url("generic"), {"phone": "+14155550123", "first": "Ada"}, secrets["generic"]) == 202
    assert post(stack.webhook_url("typeform"), {"form_response": {}}, "not-a-signature") == 401

    # When the inspector is opened, Then both rows are there with their verdicts
    page.goto(inspector.url)
    rows = page.locator("tr.delivery")
    expect(rows).to_have_count(2, timeout=10_000)
    generic = page.locator('tr.delivery[data-source="generic"]')
    typeform = page.locator('tr.delivery[data-source="typeform"]')
    expect(generic.locator(".verdict")).to_have_text("accepted")
    expect(generic.locator(".status")).to_have_text("202")
    expect(typeform.locator(".verdict")).to_have_text("refused")
    expect(typeform.locator(".status")).to_have_text("401")
    # and the accepted contact, once delivered, shows masked with its Heymarket write
    expect(generic).to_have_attribute("data-outcome", "delivered", timeout=15_000)
    generic.click()
    expect(page.locator("li.contact")).to_contain_text("14*****0123 upsert: delivered")
    expect(page.locator("body")).not_to_contain_text("4155550123")

    # When filtered by source, Then only that source's rows remain
    page.select_option("#source-filter", "typeform")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-source", "typeform")
    page.select_option("#source-filter", "")

    # When another delivery arrives, Then it appears without a reload
    assert post(stack.webhook_url("generic"), [{"phone": "+14155550124"}, {"phone": "12"}], secrets["generic"]) == 202
    expect(rows).to_have_count(3, timeout=10_000)
    expect(page.locator('tr.delivery[data-outcome="letter"] .verdict')).to_have_text("partly accepted")
