"""The web UI in a real browser: Debian's chromium driven by Playwright, against the built
binary holding traffic from the Flask app with the OpenTelemetry SDK and with the X-Ray SDK.
Every page is used as a person would; any console error or failed page request fails the test.
Screenshots go to $COMBRAY_ARTIFACTS (default: tests/python/artifacts)."""
import os
import time
import shutil
from pathlib import Path

import pytest
import requests

from honeycomb_oracle import weighted_percentile
from test_flask_otel import run_flask_app
from test_honeycomb_bubbleup import events as checkout_events, send as send_checkout
from test_xray_sdk import run_xray_app, sampled_header
from xray_helpers import new_trace_id, xray_client

playwright_api = pytest.importorskip("playwright.sync_api")

HERE = Path(__file__).parent
ARTIFACTS = Path(os.environ.get("COMBRAY_ARTIFACTS", HERE / "artifacts"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def traffic(make_combray):
    """A server with one OTLP trace (Flask + OpenTelemetry), X-Ray traces (Flask + X-Ray SDK) and
    600 `checkout` spans over the last half hour (OpenTelemetry SDK), a tenth of them slow and
    all of those in one region."""
    combray = make_combray()
    combray.start()
    checkout = checkout_events()
    send_checkout(combray.otlp_http, checkout)
    otel, otel_base = run_flask_app("http", combray.otlp_http, "unused")
    xray, xray_base = run_xray_app(combray.xray)
    try:
        trace_id = requests.get(f"{otel_base}/api/activities/home", timeout=10).json()["trace_id"]
        requests.post(f"{otel_base}/flush", timeout=30)
        # The header makes the SDK sample each request, whatever its reservoir says.
        xray_ids = [new_trace_id() for _ in range(3)]
        for xray_id in xray_ids:
            requests.get(f"{xray_base}/api/activities/home", headers=sampled_header(xray_id), timeout=10)
        requests.get(f"{xray_base}/api/fail", headers=sampled_header(new_trace_id()), timeout=10)
        combray.wait_for_trace(trace_id, min_spans=2)
        for xray_id in xray_ids:
            combray.wait_for_trace(xray_id, min_spans=3)
    finally:
        for process in (otel, xray):
            process.kill()
            process.wait()
    return combray, trace_id, xray_ids, checkout


@pytest.fixture
def page(traffic):
    errors = []
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        tab = context.new_page()
        tab.on("console", lambda m: m.type == "error" and errors.append(m.text))
        tab.on("pageerror", lambda e: errors.append(str(e)))
        # A request the page itself gave up on (a navigation, an aborted fetch) is not a failure.
        tab.on("requestfailed", lambda r: r.failure != "net::ERR_ABORTED" and errors.append(f"{r.url}: {r.failure}"))
        tab.set_default_timeout(15_000)
        yield tab
        browser.close()
    assert errors == [], f"the page logged errors: {errors}"


def per_second(text):
    """`0.17/s`, `2.50/min`, `1.2k/s` as the page writes rates, per second."""
    value, unit = text.split("/")
    scale = 1000 if value.endswith("k") else 1
    return float(value.rstrip("k")) * scale / (60 if unit == "min" else 1)


def milliseconds(text):
    """`850µs`, `12.3ms`, `1.20s` as the page writes durations, in ms."""
    for unit, scale in (("µs", 1e-3), ("ms", 1), ("s", 1e3)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    raise AssertionError(f"not a duration: {text}")


def shot(tab, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"ui-{name}.png"))


def test_home_lists_each_service_with_its_rates(traffic, page):
    combray, _, _, checkout = traffic
    page.goto(f"{combray.api}/")
    flask = page.locator('[data-testid=services] tr[data-service="backend-flask"]')
    flask.wait_for()
    # The failing X-Ray request is an error of backend-flask's.
    assert flask.locator("td").nth(3).inner_text() != "0.0%"
    cells = page.locator('[data-testid=services] tr[data-service="checkout"] td').all_inner_texts()
    durations = [(e["ms"], 1) for e in checkout]
    assert cells[0].startswith("checkout")
    # The default range is the last hour: 600 requests in it.
    assert per_second(cells[1]) == pytest.approx(len(checkout) / 3600, rel=0.03)
    assert cells[3] == "0.0%"
    for cell, fraction in zip(cells[5:8], (0.5, 0.95, 0.99)):
        assert milliseconds(cell) == pytest.approx(weighted_percentile(durations, fraction), rel=0.005)
    page.locator("text=Recent traces").wait_for()
    shot(page, "home")


def test_search_open_trace_expand_and_read_an_attribute(traffic, page):
    combray, trace_id, _, _ = traffic
    page.goto(f"{combray.api}/traces")
    page.select_option('select[name=service]', "backend-flask")
    page.fill('input[name=attrs]', "http.route=/api/activities/home")
    page.click("[data-testid=search]")
    row = page.locator(f'tr[data-trace="{trace_id}"]')
    row.wait_for()
    assert "range=" in page.url or "service=backend-flask" in page.url
    shot(page, "traces")
    row.locator("a").first.click()
    page.wait_for_url(f"**/trace/{trace_id}**")
    page.locator("[data-testid=trace-title]").wait_for()
    assert page.inner_text("[data-testid=span-count]") == "2 spans"
    # Collapse the root, expand it again, then open the child span and read its attribute.
    root = page.locator(".wf-row", has_text="GET /api/activities/home")
    root.locator(".wf-toggle").click()
    assert page.locator(".wf-row:visible", has_text="home-activities-mock-data").count() == 0
    root.locator(".wf-toggle").click()
    page.locator(".wf-row", has_text="home-activities-mock-data").click()
    detail = page.locator("[data-testid=span-detail]")
    assert detail.locator('[data-testid=detail-attributes] td[data-key="app.result_length"]').inner_text() == "1"
    assert "span=" in page.url, "the selected span is in the URL"
    shot(page, "trace")
    # Filters: a name that matches one span, with matches only.
    page.fill('input[aria-label="Span name filter"]', "mock-data")
    assert page.inner_text("[data-testid=match-count]") == "1 of 2 spans match"
    page.check('input[aria-label="Matches only"]')
    assert page.locator(".wf-row:visible").count() == 1
    # The link reopens the same view.
    page.goto(page.url)
    page.locator("[data-testid=span-detail] [data-testid=detail-name]", has_text="home-activities-mock-data").wait_for()
    page.keyboard.press("Escape")
    assert page.locator("[data-testid=span-detail]").is_hidden()


def test_xray_trace_shows_annotations_and_the_map_lists_its_traces(traffic, page):
    combray, _, xray_ids, _ = traffic
    page.goto(f"{combray.api}/trace/{xray_ids[0]}")
    page.locator(".wf-row", has_text="mock-data").first.click()
    annotations = page.locator("[data-testid=xray-annotations]")
    assert annotations.locator('td[data-key="result_length"]').inner_text() == "1"
    # The keyboard walks the waterfall: j down, k up, ← collapses, → expands.
    name = page.locator("[data-testid=span-detail] [data-testid=detail-name]")
    page.keyboard.press("j")
    playwright_api.expect(name).to_have_text("db-query")
    page.keyboard.press("k")
    playwright_api.expect(name).to_have_text("mock-data")
    page.keyboard.press("ArrowLeft")
    playwright_api.expect(page.locator(".wf-row:visible", has_text="db-query")).to_have_count(0)
    page.keyboard.press("ArrowRight")
    playwright_api.expect(page.locator(".wf-row:visible", has_text="db-query")).to_have_count(1)
    page.click("text=service map")
    page.locator('[data-node="backend-flask"]').wait_for()
    page.goto(f"{combray.api}/map")
    node = page.locator('[data-node="backend-flask"]')
    node.wait_for()
    shot(page, "map")
    node.click()
    expression = page.locator("[data-testid=map-filter]")
    assert expression.inner_text() == 'service("backend-flask")'
    page.check("[data-testid=status-fault]")
    assert expression.inner_text() == 'service("backend-flask") { (fault = true) }'
    page.click("[data-testid=view-traces]")
    page.wait_for_url("**/traces?**mode=xray**")
    rows = page.locator("[data-testid=trace-results] tr[data-trace]")
    rows.first.wait_for()
    # Only the failing request faulted; the three good ones are not listed.
    listed = set(rows.evaluate_all("rows => rows.map(r => r.dataset.trace)"))
    assert listed and not (listed & set(xray_ids))


def test_a_server_with_keys_asks_for_a_configuration_key_and_refuses_an_ingest_key(make_combray):
    combray = make_combray()
    ingest = combray.keys_create("shop", "ingest")
    config = combray.keys_create("shop", "configuration")
    combray.start()
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        tab = browser.new_page()
        tab.goto(f"{combray.api}/")
        dialog = tab.locator("#key-dialog")
        dialog.wait_for()
        tab.fill("#key-input", ingest)
        tab.click("#key-save")
        playwright_api.expect(tab.locator("#key-error")).to_contain_text("ingest key")
        tab.fill("#key-input", config)
        tab.click("#key-save")
        tab.locator("#environment", has_text="shop").wait_for()
        assert tab.evaluate("sessionStorage.getItem('combray.key')") == config
        browser.close()


def run_from_builder(page, visualize, group_by=""):
    page.fill("input[name=visualize]", visualize)
    page.fill("input[name=group_by]", group_by)
    page.click("[data-testid=run-query]")


def test_query_builder_charts_p99_by_route_against_an_oracle(traffic, page):
    combray, _, _, checkout = traffic
    page.goto(f"{combray.api}/query?dataset=checkout")
    run_from_builder(page, "P99(duration_ms), COUNT", "http.route")
    page.wait_for_url("**/query?**q=**")
    rows = page.locator("[data-testid=query-results] tbody tr")
    rows.first.wait_for()
    assert page.locator("[data-testid=line-chart]").count() == 2
    shown = {}
    for row in rows.all():
        route = row.locator('td[data-column="http.route"]').inner_text()
        shown[route] = (milliseconds(row.locator('td[data-column="P99(duration_ms)"]').inner_text()),
                        int(row.locator('td[data-column="COUNT"]').inner_text()))
    expected = {}
    for route in {e["route"] for e in checkout}:
        mine = [(e["ms"], 1) for e in checkout if e["route"] == route]
        expected[route] = (weighted_percentile(mine, 0.99), len(mine))
    assert shown.keys() == expected.keys()
    for route, (p99, count) in expected.items():
        assert shown[route][0] == pytest.approx(p99, rel=0.005) and shown[route][1] == count
    # The link holds the query: reopened, it shows the same groups.
    page.goto(page.url)
    page.locator("[data-testid=query-results] tbody tr").first.wait_for()
    assert page.locator("[data-testid=query-results] tbody tr").count() == len(expected)


def open_checkout_heatmap(page, combray):
    page.goto(f"{combray.api}/query?dataset=checkout")
    run_from_builder(page, "HEATMAP(duration_ms)")
    heatmap = page.locator("[data-testid=heatmap]")
    heatmap.wait_for()
    return heatmap


def drag(page, locator, start, end):
    """Drags across a canvas between two points given as fractions of its box."""
    box = locator.bounding_box()
    at = lambda f: (box["x"] + box["width"] * f[0], box["y"] + box["height"] * f[1])
    page.mouse.move(*at(start))
    page.mouse.down()
    page.mouse.move(*at(((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)), steps=4)
    page.mouse.move(*at(end), steps=4)
    page.mouse.up()


def test_a_box_on_the_heatmap_bubbles_up_the_region_the_slow_spans_share(traffic, page):
    combray, _, _, checkout = traffic
    heatmap = open_checkout_heatmap(page, combray)
    # From the top-left corner to the right edge at mid-height: the whole range, every value
    # above the middle of the axis (about 600 ms; the slow spans take 800–1200, the rest < 80).
    drag(page, heatmap, (0.0, 0.0), (1.0, 0.5))
    first = page.locator("[data-testid=bubbleup-columns] .bubbleup-column").first
    first.wait_for()
    slow = [e for e in checkout if e["ms"] >= 500]
    assert first.get_attribute("data-column") == "region"
    counts = page.inner_text("[data-testid=bubbleup-counts]")
    assert counts.startswith(f"{len(slow)} events selected, {len(checkout) - len(slow)} in the baseline")
    assert "sel=" in page.url
    shot(page, "query")
    # "add to WHERE" keeps the region the selection is made of and runs the query again.
    first.locator("[data-action=where]").click()
    page.wait_for_function("() => [...document.querySelectorAll('input[name=where]')].some(i => i.value === 'region = ap-south-1')")
    page.locator("[data-testid=heatmap]").wait_for()


def test_a_heatmap_cell_opens_a_trace_from_it(traffic, page):
    combray, _, _, checkout = traffic
    heatmap = open_checkout_heatmap(page, combray)
    # The bottom row of cells holds the fast spans; find a column with one by clicking along it.
    box = heatmap.bounding_box()
    for step in range(40, 100, 3):
        page.mouse.click(box["x"] + box["width"] * step / 100, box["y"] + box["height"] - 24)
        try:
            page.wait_for_url("**/trace/**", timeout=1500)
            break
        except playwright_api.TimeoutError:
            continue
    page.locator("[data-testid=trace-title]").wait_for()
    duration = milliseconds(page.inner_text("[data-testid=trace-duration]"))
    fast = [e["ms"] for e in checkout if e["ms"] < 500]
    assert min(fast) * 0.99 <= duration <= max(fast) * 1.01


def fill_labelled(card, values):
    for name, value in values.items():
        card.locator(f".form-row input[name={name}]").last.fill(str(value))


def test_settings_make_a_group_a_rule_and_a_marker_that_real_clients_read(traffic, page):
    combray = traffic[0]
    xray = xray_client(combray.api)
    page.goto(f"{combray.api}/settings")
    groups = page.locator("[data-testid=groups-card]")
    fill_labelled(groups, {"GroupName": "Checkout", "FilterExpression": 'service("checkout")'})
    groups.locator("[data-testid=create-group]").click()
    groups.locator('tr[data-group="Checkout"]').wait_for()
    assert xray.get_group(GroupName="Checkout")["Group"]["FilterExpression"] == 'service("checkout")'

    rules = page.locator("[data-testid=rules-card]")
    fill_labelled(rules, {"RuleName": "Cruddur", "Priority": 9000, "FixedRate": 0.1, "ReservoirSize": 5, "ServiceName": "backend-flask"})
    rules.locator("[data-testid=create-rule]").click()
    rules.locator('tr[data-rule="Cruddur"]').wait_for()
    made = {r["SamplingRule"]["RuleName"]: r["SamplingRule"] for r in xray.get_sampling_rules()["SamplingRuleRecords"]}
    assert (made["Cruddur"]["FixedRate"], made["Cruddur"]["ReservoirSize"], made["Cruddur"]["ServiceName"]) == (0.1, 5, "backend-flask")
    # An SDK reports what the rule did; the page shows the counts it reported.
    xray.get_sampling_targets(SamplingStatisticsDocuments=[{
        "RuleName": "Cruddur", "ClientID": "0123456789abcdef01234567", "Timestamp": time.time(),
        "RequestCount": 10, "SampledCount": 6, "BorrowCount": 1}])
    page.reload()
    row = page.locator('[data-testid=rules-card] tr[data-rule="Cruddur"]')
    row.wait_for()
    assert [row.locator(f"td[data-stat={s}]").inner_text() for s in ("requests", "sampled", "borrowed")] == ["10", "6", "1"]

    markers = page.locator("[data-testid=markers-card]")
    markers.locator("select[name=marker-dataset]").select_option("checkout")
    markers.locator("input[name=marker-type]").fill("deploy")
    markers.locator("input[name=marker-message]").fill("v42 to production")
    markers.locator("[data-testid=create-marker]").click()
    markers.locator("tr[data-marker]").wait_for()
    listed = requests.get(f"{combray.api}/1/markers/checkout", timeout=10).json()
    assert [(m["type"], m["message"]) for m in listed] == [("deploy", "v42 to production")]
    shot(page, "settings")
    # Home draws it on checkout's sparklines.
    page.goto(f"{combray.api}/")
    playwright_api.expect(page.locator("[data-testid=marker-note]")).to_have_text("1 marker(s) in range, drawn on the sparklines")


def test_a_query_results_link_from_the_api_opens_that_query(traffic, page):
    combray, _, _, checkout = traffic
    spec = {"calculations": [{"op": "COUNT"}], "breakdowns": ["region"], "time_range": 3600}
    query = requests.post(f"{combray.api}/1/queries/checkout", json=spec, timeout=10).json()
    result = requests.post(f"{combray.api}/1/query_results/checkout", json={"query_id": query["id"]}, timeout=10).json()
    page.goto(combray.api + result["links"]["query_url"])
    rows = page.locator("[data-testid=query-results] tbody tr")
    rows.first.wait_for()
    assert page.input_value("input[name=group_by]") == "region"
    shown = {r.locator('td[data-column="region"]').inner_text(): int(r.locator('td[data-column="COUNT"]').inner_text()) for r in rows.all()}
    expected = {}
    for e in checkout:
        expected[e["region"]] = expected.get(e["region"], 0) + 1
    assert shown == expected
