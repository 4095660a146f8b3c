"""Every other X-Ray operation through boto3, including each error case."""
import json
import os
import time

import botocore.exceptions
import pytest
import requests

from xray_helpers import new_trace_id, send_segments, wait_for, xray_client


def error_code(call, *args, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def rule(name, priority=100, **overrides):
    base = {"RuleName": name, "ResourceARN": "*", "Priority": priority, "FixedRate": 0.5, "ReservoirSize": 10,
            "ServiceName": "*", "ServiceType": "*", "Host": "*", "HTTPMethod": "*", "URLPath": "*", "Version": 1}
    return {**base, **overrides}


def test_groups(make_combray):
    combray = make_combray().start()
    xray = xray_client(combray.api)
    created = xray.create_group(GroupName="slow", FilterExpression="responsetime > 5",
                                Tags=[{"Key": "team", "Value": "web"}])["Group"]
    assert created["GroupARN"].startswith("arn:aws:xray:us-east-1:000000000000:group/slow/")
    assert xray.get_group(GroupName="slow")["Group"] == created
    assert xray.get_group(GroupARN=created["GroupARN"])["Group"]["GroupName"] == "slow"
    updated = xray.update_group(GroupName="slow", FilterExpression="responsetime > 9")["Group"]
    assert updated["FilterExpression"] == "responsetime > 9" and updated["GroupARN"] == created["GroupARN"]
    assert xray.get_group(GroupName="Default")["Group"]["GroupName"] == "Default"
    assert xray.list_tags_for_resource(ResourceARN=created["GroupARN"])["Tags"] == [{"Key": "team", "Value": "web"}]

    assert error_code(xray.create_group, GroupName="slow")[0] == "InvalidRequestException"
    assert error_code(xray.create_group, GroupName="Default")[0] == "InvalidRequestException"
    assert error_code(xray.create_group, GroupName="bad name!")[0] == "InvalidRequestException"
    code, message = error_code(xray.create_group, GroupName="broken", FilterExpression="responsetime >")
    assert code == "InvalidRequestException" and "character" in message
    assert error_code(xray.delete_group, GroupName="Default")[0] == "InvalidRequestException"
    assert error_code(xray.update_group, GroupName="Default", FilterExpression="ok")[0] == "InvalidRequestException"
    assert error_code(xray.get_group, GroupName="absent")[0] == "InvalidRequestException"
    for index in range(24):
        xray.create_group(GroupName=f"g{index}")
    code, message = error_code(xray.create_group, GroupName="one-too-many")
    assert code == "InvalidRequestException" and "25" in message
    assert len(xray.get_groups()["Groups"]) == 26
    xray.delete_group(GroupName="slow")
    assert "slow" not in [g["GroupName"] for g in xray.get_groups()["Groups"]]


def test_sampling_rules_and_targets(make_combray):
    combray = make_combray().start()
    xray = xray_client(combray.api)
    record = xray.create_sampling_rule(SamplingRule=rule("api", ReservoirSize=10))["SamplingRuleRecord"]
    assert record["SamplingRule"]["RuleARN"] == "arn:aws:xray:us-east-1:000000000000:sampling-rule/api"
    assert record["SamplingRule"]["Attributes"] == {}
    for bad in [rule("p", priority=0), rule("r", FixedRate=1.5), rule("v", Version=2), rule("Default"),
                rule("x" * 33), rule("api")]:
        assert error_code(xray.create_sampling_rule, SamplingRule=bad)[0] == "InvalidRequestException", bad
    updated = xray.update_sampling_rule(SamplingRuleUpdate={"RuleName": "api", "FixedRate": 0.25})
    assert updated["SamplingRuleRecord"]["SamplingRule"]["FixedRate"] == 0.25
    default = xray.update_sampling_rule(SamplingRuleUpdate={"RuleName": "Default", "ReservoirSize": 3})
    assert default["SamplingRuleRecord"]["SamplingRule"]["ReservoirSize"] == 3
    code, _ = error_code(xray.update_sampling_rule, SamplingRuleUpdate={"RuleName": "Default", "Host": "x"})
    assert code == "InvalidRequestException"
    assert error_code(xray.delete_sampling_rule, RuleName="Default")[0] == "InvalidRequestException"
    assert error_code(xray.delete_sampling_rule, RuleName="absent")[0] == "InvalidRequestException"
    for index in range(24):
        xray.create_sampling_rule(SamplingRule=rule(f"r{index}", priority=200 + index))
    assert error_code(xray.create_sampling_rule, SamplingRule=rule("r99"))[0] == "RuleLimitExceededException"
    names = [r["SamplingRule"]["RuleName"] for r in xray.get_sampling_rules()["SamplingRuleRecords"]]
    assert names[0] == "api" and names[-1] == "Default" and len(names) == 26

    # Three clients report to the rule twice; the second round's quotas split its reservoir.
    now = time.time()
    clients = ["a" * 24, "b" * 24, "c" * 24]
    for _ in range(2):
        quotas = []
        for client, requests_seen in zip(clients, [40, 5, 100]):
            answer = xray.get_sampling_targets(SamplingStatisticsDocuments=[{
                "RuleName": "api", "ClientID": client, "Timestamp": now, "RequestCount": requests_seen,
                "SampledCount": 1, "BorrowCount": 0}])
            target = answer["SamplingTargetDocuments"][0]
            assert target["FixedRate"] == 0.25 and target["Interval"] == 10
            assert target["ReservoirQuotaTTL"].timestamp() > now
            assert "LastRuleModification" in answer
            quotas.append(target["ReservoirQuota"])
    assert sum(quotas) == 10, quotas
    unknown = xray.get_sampling_targets(SamplingStatisticsDocuments=[{
        "RuleName": "absent", "ClientID": "d" * 24, "Timestamp": now, "RequestCount": 1, "SampledCount": 0}])
    assert unknown["UnprocessedStatistics"][0]["RuleName"] == "absent"
    assert error_code(xray.get_sampling_targets, SamplingStatisticsDocuments=[{
        "RuleName": "api", "ClientID": "short", "Timestamp": now, "RequestCount": 1, "SampledCount": 0}])[0] == "InvalidRequestException"
    summaries = xray.get_sampling_statistic_summaries()["SamplingStatisticSummaries"]
    assert sum(s["RequestCount"] for s in summaries if s["RuleName"] == "api") == 2 * 145
    deleted = xray.delete_sampling_rule(RuleName="api")["SamplingRuleRecord"]
    assert deleted["SamplingRule"]["RuleName"] == "api"

    # Durable: rules survive a restart.
    combray.stop()
    combray.start()
    names = [r["SamplingRule"]["RuleName"] for r in xray_client(combray.api).get_sampling_rules()["SamplingRuleRecords"]]
    assert "api" not in names and "r0" in names and names[-1] == "Default"


def test_tags_and_encryption(make_combray):
    combray = make_combray().start()
    xray = xray_client(combray.api)
    arn = xray.create_sampling_rule(SamplingRule=rule("tagged"))["SamplingRuleRecord"]["SamplingRule"]["RuleARN"]
    xray.tag_resource(ResourceARN=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    xray.untag_resource(ResourceARN=arn, TagKeys=["a"])
    assert xray.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    missing = "arn:aws:xray:us-east-1:000000000000:group/nope/X"
    assert error_code(xray.tag_resource, ResourceARN=missing, Tags=[{"Key": "a", "Value": "1"}])[0] == "ResourceNotFoundException"
    assert error_code(xray.tag_resource, ResourceARN=arn, Tags=[{"Key": "aws:x", "Value": "1"}])[0] == "InvalidRequestException"
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    assert error_code(xray.tag_resource, ResourceARN=arn, Tags=many)[0] == "TooManyTagsException"

    assert xray.get_encryption_config()["EncryptionConfig"] == {"Status": "ACTIVE", "Type": "NONE"}
    kms = xray.put_encryption_config(Type="KMS", KeyId="alias/combray")["EncryptionConfig"]
    assert kms == {"KeyId": "alias/combray", "Status": "ACTIVE", "Type": "KMS"}
    assert error_code(xray.put_encryption_config, Type="KMS")[0] == "InvalidRequestException"
    assert xray.get_encryption_config()["EncryptionConfig"]["KeyId"] == "alias/combray"


def test_segments_summaries_graphs_and_errors(make_combray):
    combray = make_combray().start()
    xray = xray_client(combray.api)
    now = time.time()
    traces = [new_trace_id() for _ in range(3)]
    documents = []
    for index, trace_id in enumerate(traces):
        documents.append({
            "trace_id": trace_id, "id": "%016x" % (0xa0 + index), "name": "checkout", "start_time": now - index,
            "end_time": now - index + 0.2 * (index + 1), "annotations": {"order": index},
            "http": {"request": {"method": "POST", "url": "http://shop/checkout"}, "response": {"status": 200 if index else 502}},
            "fault": index == 0,
            "subsegments": [{"id": "%016x" % (0xb0 + index), "name": "payments", "namespace": "remote",
                             "start_time": now - index + 0.01, "end_time": now - index + 0.1, "fault": index == 0}],
        })
    result = xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(d) for d in documents] + ["{not json", json.dumps({"id": "00000000000000ff", "name": "x", "start_time": now})])
    unprocessed = {u.get("Id"): u["ErrorCode"] for u in result["UnprocessedTraceSegments"]}
    assert unprocessed == {None: "MalformedSegment", "00000000000000ff": "MissingRequiredFields"}
    # The daemon's UDP port lands in the same store.
    udp_trace = new_trace_id()
    send_segments(combray.xray, [{"trace_id": udp_trace, "id": "00000000000000c1", "name": "checkout",
                                  "start_time": now, "end_time": now + 0.05}])
    xray.put_telemetry_records(TelemetryRecords=[{"Timestamp": now, "SegmentsReceivedCount": 4}], EC2InstanceId="i-1")

    window = {"StartTime": now - 60, "EndTime": now + 60}
    everything = wait_for(lambda: len(xray.get_trace_summaries(**window)["TraceSummaries"]) == 4 or None)
    assert everything
    page = xray.get_trace_summaries(**window)
    # Newest first (traces[0] and the UDP trace start at the same moment).
    assert [s["Id"] for s in page["TraceSummaries"]][2:] == traces[1:]
    assert page["TracesProcessedCount"] == 4
    filtered = xray.get_trace_summaries(**window, FilterExpression='fault AND annotation.order = 0')
    faulty = filtered["TraceSummaries"]
    assert [s["Id"] for s in faulty] == [traces[0]]
    # Processed means examined, matching or not: every trace of the window.
    assert filtered["TracesProcessedCount"] == 4
    code, message = error_code(xray.get_trace_summaries, **window, FilterExpression='group.name = "no-such-group"')
    assert code == "InvalidRequestException" and "no-such-group" in message
    assert faulty[0]["FaultRootCauses"][0]["Services"][-1]["Name"] == "payments"
    code, message = error_code(xray.get_trace_summaries, **window, FilterExpression="annotation.order >")
    assert code == "InvalidRequestException" and "character" in message
    assert error_code(xray.get_trace_summaries, StartTime=now, EndTime=now - 10)[0] == "InvalidRequestException"
    assert error_code(xray.get_trace_summaries, **window, TimeRangeType="Sometimes")[0] == "InvalidRequestException"

    batch = xray.batch_get_traces(TraceIds=[traces[0], "1-00000000-000000000000000000000001"])
    assert [t["Id"] for t in batch["Traces"]] == [traces[0]]
    assert json.loads(batch["Traces"][0]["Segments"][0]["Document"]) == documents[0]
    assert batch["UnprocessedTraceIds"] == ["1-00000000-000000000000000000000001"]

    graph = xray.get_service_graph(**window)["Services"]
    checkout = [s for s in graph if s["Name"] == "checkout" and s.get("Type") != "client"][0]
    assert checkout["SummaryStatistics"]["TotalCount"] == 4
    assert checkout["SummaryStatistics"]["FaultStatistics"]["TotalCount"] == 1
    payments = [s for s in graph if s["Name"] == "payments"][0]
    assert payments["Type"] == "remote"
    edge = [e for e in checkout["Edges"] if e["ReferenceId"] == payments["ReferenceId"]][0]
    assert edge["SummaryStatistics"]["TotalCount"] == 3
    assert sum(h["Count"] for h in edge["ResponseTimeHistogram"]) == 3
    trace_graph = xray.get_trace_graph(TraceIds=[traces[0]])["Services"]
    assert {s["Name"] for s in trace_graph} == {"checkout", "payments"}
    series = xray.get_time_series_service_statistics(**window, EntitySelectorExpression='service("checkout")', Period=60)
    points = series["TimeSeriesServiceStatistics"]
    assert sum(p["ServiceSummaryStatistics"]["TotalCount"] for p in points) == 4
    assert error_code(xray.get_time_series_service_statistics, **window, Period=7)[0] == "InvalidRequestException"
    assert error_code(xray.get_service_graph, **window, GroupName="nope")[0] == "InvalidRequestException"


def test_sigv4_access_keys_are_checked_and_select_the_environment(make_combray):
    combray = make_combray()
    access_key, secret = combray.keys_create("prod", "aws").split()
    combray.start()
    prod = xray_client(combray.api, access_key, secret)
    prod.create_group(GroupName="prod-only")
    assert "prod-only" in [g["GroupName"] for g in prod.get_groups()["Groups"]]

    code, message = error_code(xray_client(combray.api, access_key, "x" * 40).get_groups)
    assert code == "InvalidSignatureException" and "signature" in message
    code, _ = error_code(xray_client(combray.api, "CMBAUNKNOWNKEY000000", secret).get_groups)
    assert code == "UnrecognizedClientException"
    unsigned = requests.post(f"{combray.api}/Groups", json={}, timeout=10)
    assert unsigned.status_code == 403 and unsigned.headers["x-amzn-ErrorType"] == "UnrecognizedClientException"
    # The daemon's TCP port takes no key, so it serves no reads (see test_xray_auth.py).
    daemon = xray_client(f"http://{combray.xray}")
    assert error_code(daemon.get_groups)[0] == "AccessDeniedException"
    # An AWS secret is not an API key.
    assert requests.get(f"{combray.api}/api/v1/services", headers={"x-honeycomb-team": secret}, timeout=10).status_code == 401


def test_time_range_type_selects_by_start_activity_or_segment_end(make_combray):
    combray = make_combray().start()
    xray = xray_client(combray.api)
    now = float(int(time.time()))

    def segment(trace_id, start, end, subsegments=()):
        return {"trace_id": trace_id, "id": os.urandom(8).hex(), "name": "timing", "start_time": start,
                "end_time": end, "subsegments": list(subsegments)}

    started_inside, long_running, spanning, later = (new_trace_id() for _ in range(4))
    documents = [
        segment(started_inside, now - 45, now - 44.9),
        # Started before the window, ended after it, with a subsegment that ended inside it.
        segment(long_running, now - 100, now - 1,
                [{"id": os.urandom(8).hex(), "name": "db", "start_time": now - 99, "end_time": now - 42}]),
        # Active throughout the window, but nothing of it ended inside.
        segment(spanning, now - 60, now - 35),
        segment(later, now - 30, now - 29),
    ]
    assert xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(d) for d in documents])["UnprocessedTraceSegments"] == []
    wait_for(lambda: len(xray.get_trace_summaries(StartTime=now - 200, EndTime=now)["TraceSummaries"]) == 4 or None)

    def ids(**extra):
        page = xray.get_trace_summaries(StartTime=now - 50, EndTime=now - 40, **extra)
        return [summary["Id"] for summary in page["TraceSummaries"]]

    assert ids() == [started_inside]
    assert ids(TimeRangeType="TraceId") == [started_inside]
    # Most recently updated first.
    assert ids(TimeRangeType="Event") == [long_running, spanning, started_inside]
    assert ids(TimeRangeType="Service") == [long_running, started_inside]
    # Filters apply to spans that started before the window too.
    assert ids(TimeRangeType="Event", FilterExpression='service("timing") AND duration > 90') == [long_running]


def test_rejected_datagrams_are_logged_with_their_reason_and_counted(combray):
    import socket
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(50):
        sock.sendto(b'{"format":"json","version":1}\n{"id":"zz"}', ("127.0.0.1", combray.xray_port))
    # Every one is counted; the log is written at the first, so wait for the count.
    deadline = time.time() + 10
    while time.time() < deadline and "combray_xray_datagrams_rejected_total 50" not in combray.get("/metrics").text:
        time.sleep(0.1)
    assert "combray_xray_datagrams_rejected_total 50" in combray.get("/metrics").text
    logged = [line for line in combray.log().splitlines() if "rejected X-Ray datagrams" in line]
    # Logged once for the burst, not fifty times, with why.
    assert len(logged) == 1, logged
    assert "reason=" in logged[0], logged[0]
