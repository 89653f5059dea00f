"""A crew member's day through the Python bindings, against the real server on loopback:
dispatch books orders, the phone syncs, works offline (arrival, a reading whose warning is
confirmed with a reason, a document photo, completion), dispatch edits a crew-owned field the
crew also edited, and the sync that follows lists the conflict."""

import io
import threading
from datetime import datetime, timedelta, timezone

import pytest

import fieldcrew_ffi as fc

CHINA = timezone(timedelta(hours=8))
KEY = bytes(range(40, 72))


def iso(t):
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def new_order(number, kind, slot_start, meters=()):
    return {
        "number": number,
        "kind": kind,
        "customer": {"name": "欧阳秀英", "account_number": "3300112233", "phone": "13900001111"},
        "site": {"address": "杭州市西湖区文三路90号", "area": "西湖供电所",
                 "location": {"lat": 30.2741, "lon": 120.1551}},
        "meters": list(meters),
        "appointment": {"mode": "slot", "start": iso(slot_start),
                        "end": iso(slot_start + timedelta(hours=2))},
        "accepted_at": iso(slot_start - timedelta(days=1)),
        "crew_id": "crew-west",
    }


def meter(asset, last_value, last_at):
    return {
        "asset_number": asset,
        "phases": 1,
        "registers": [{"spec": {"register": "total", "int_digits": 6, "decimals": 2},
                       "last": {"value": last_value, "at": iso(last_at)}}],
        "multiplier": "1",
        "prepaid": False,
        "expected_daily_kwh": "10",
    }


def jpeg_bytes():
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (800, 600), (200, 40, 40)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


class Progress(fc.SyncListener):
    def __init__(self):
        self.events = []

    def on_progress(self, phase, done, total):
        self.events.append((phase, done, total))


def test_a_crew_day_end_to_end(server, tmp_path):
    now = datetime.now(CHINA)
    slot = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    removal, connection = server.office("POST", "/v1/office/orders", {"orders": [
        new_order("GD-PY-1", "meter_removal", slot,
                  [meter("3310140000001", "1000.00", now - timedelta(days=30))]),
        new_order("GD-PY-2", "new_connection", slot + timedelta(hours=2)),
    ]})
    removal_id, connection_id = removal["order"]["id"], connection["order"]["id"]

    core = fc.FieldCrew.open(fc.Config(data_dir=str(tmp_path / "phone"), store_key=KEY))
    login = core.login(server.url, server.crew_token)
    assert (login.member_id, login.crew_id) == ("m-li", "crew-west")
    first = core.sync(None)
    assert first.orders_received == 2

    # The agenda of the day shows both orders in their area.
    groups = core.agenda(slot.strftime("%Y-%m-%d"), fc.GeoPoint(lat=30.27, lon=120.15))
    numbers = [i.order.number for g in groups for i in g.items]
    assert set(numbers) >= {"GD-PY-1", "GD-PY-2"}
    assert groups[0].area == "西湖供电所"

    # Offline from here: arrival with GPS, a reading, completion.
    gps = fc.Fix(lat=30.274123, lon=120.155177, accuracy_m=6.5)
    for to in (fc.Status.ACCEPTED, fc.Status.EN_ROUTE, fc.Status.ARRIVED, fc.Status.IN_PROGRESS):
        core.report_status(fc.StatusReport(order_id=removal_id, to=to, reason=None, note="", fix=gps))
    entry = fc.ReadingEntry(
        order_id=removal_id, meter_asset="3310140000001",
        purpose=fc.ReadingPurpose.REMOVED_METER_FINAL,
        values=[fc.RegisterValue(register=fc.Register.TOTAL, raw="12,3a")],
        photo_id=None, supersedes=[], confirmations=[])
    with pytest.raises(fc.FieldCrewError.Validation) as bad:
        core.record_readings(entry)
    assert bad.value.field == "value" and "'a'" in bad.value.detail
    entry.values = [fc.RegisterValue(register=fc.Register.TOTAL, raw="6000")]
    with pytest.raises(fc.FieldCrewError.NeedsConfirmation) as warn:
        core.record_readings(entry)
    (w,) = warn.value.warnings
    assert w.code == fc.WarningCode.HIGH_CONSUMPTION
    entry.confirmations = [fc.Confirmation(code=w.code, register=w.register, reason="客户开了烘干房")]
    (saved,) = core.record_readings(entry)
    assert saved.value == "6000" and saved.warnings[0].reason == "客户开了烘干房"
    core.set_crew_notes(removal_id, "表箱在地下室")
    core.report_status(fc.StatusReport(order_id=removal_id, to=fc.Status.COMPLETED, reason=None,
                                       note="", fix=gps))

    # A document photo on the new connection completes part of its checklist.
    before = core.document_checklist(connection_id)
    assert fc.DocumentKind.ID_CARD in before.missing
    core.report_status(fc.StatusReport(order_id=connection_id, to=fc.Status.ACCEPTED, reason=None,
                                       note="", fix=None))
    photo = core.add_photo(connection_id, fc.DocumentKind.ID_CARD, jpeg_bytes())
    assert photo.sensitive and photo.width == 800
    assert core.photo_jpeg(photo.id)[:2] == b"\xff\xd8"
    with pytest.raises(fc.FieldCrewError.UnsupportedPhoto):
        core.add_photo(connection_id, fc.DocumentKind.ID_CARD, b"%PDF-1.4 not a photo")
    after = core.document_checklist(connection_id)
    assert fc.DocumentKind.ID_CARD not in after.missing
    detail = core.order_detail(connection_id)
    assert detail.documents.missing == after.missing and len(detail.documents.items) == len(after.items)
    assert [p.id for p in detail.photos] == [photo.id]

    # Meanwhile dispatch corrects the crew notes in the office.
    server.office("PATCH", f"/v1/office/orders/{removal_id}", {"crew_notes": "钥匙在物业"})

    pending = core.pending_count()
    assert pending >= 9
    progress = Progress()
    summary = core.sync(progress)
    assert summary.pushed == pending
    assert summary.conflicts + summary.conflicts_received >= 1
    assert any(p[0] == fc.SyncPhase.PUSH and p[1] == pending for p in progress.events)
    assert core.pending_count() == 0

    # Photo bytes travel on their own queue, after the data, on an unmetered network only.
    assert core.photo_state(photo.id) == fc.PhotoState.LOCAL_ONLY()
    deferred = core.transfer_photos(fc.NetworkKind.METERED, None)
    assert deferred.uploads_deferred and deferred.uploaded == 0
    moved = []

    class Bytes(fc.PhotoTransferListener):
        def on_progress(self, uploading, done_bytes, total_bytes, photos_done, photos_total):
            moved.append((uploading, done_bytes, total_bytes))

    sent = core.transfer_photos(fc.NetworkKind.UNMETERED, Bytes())
    assert sent.uploaded == 1 and sent.upload_failures == 0
    assert sent.bytes_sent >= photo.bytes
    assert moved and moved[-1][0] and moved[-1][1] == moved[-1][2]
    assert core.photo_state(photo.id) == fc.PhotoState.ON_SERVER()

    (conflict,) = [c for c in core.conflicts(True) if c.field == "crew_notes"]
    assert conflict.rule == "crew_owns_field"
    assert "表箱在地下室" in conflict.kept_value and "钥匙在物业" in conflict.lost_value
    core.acknowledge_conflict(conflict.id)
    core.sync(None)
    assert core.conflicts(True) == []

    detail = server.office("GET", f"/v1/office/orders/{removal_id}")
    assert detail["order"]["status"] == "completed"
    assert [r["value"] for r in detail["readings"]] == ["6000"]


def test_cancel_sync_from_another_thread(server, tmp_path):
    core = fc.FieldCrew.open(fc.Config(data_dir=str(tmp_path / "phone"), store_key=KEY))
    core.login(server.url, server.crew_token)

    class CancelOnFirst(fc.SyncListener):
        def on_progress(self, phase, done, total):
            threading.Thread(target=core.cancel_sync).start()
            threading.Event().wait(0.2)

    with pytest.raises(fc.FieldCrewError.Interrupted):
        core.sync(CancelOnFirst())
    # A later sync runs normally.
    assert core.sync(None).orders_received == 0


def test_a_wrong_token_is_an_auth_error(server, tmp_path):
    core = fc.FieldCrew.open(fc.Config(data_dir=str(tmp_path / "phone"), store_key=KEY))
    with pytest.raises(fc.FieldCrewError.Auth):
        core.login(server.url, "fc_not-a-real-token")
    with pytest.raises(fc.FieldCrewError.Auth):
        core.sync(None)
