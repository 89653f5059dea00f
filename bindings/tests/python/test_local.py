"""The bindings from Python, without a server: opening, typed errors, key handling, wiping."""

import os

import pytest

import fieldcrew_ffi as fc

KEY = bytes(range(1, 33))


def open_core(tmp_path, key=KEY):
    return fc.FieldCrew.open(fc.Config(data_dir=str(tmp_path), store_key=key))


def test_a_short_key_is_a_validation_error(tmp_path):
    with pytest.raises(fc.FieldCrewError.Validation) as e:
        open_core(tmp_path, key=b"short")
    assert e.value.field == "key"


def test_a_wrong_key_is_its_own_error_and_the_right_one_still_works(tmp_path):
    core = open_core(tmp_path)
    core.sign_in("m-li", "crew-west")
    del core
    with pytest.raises(fc.FieldCrewError.WrongKey):
        open_core(tmp_path, key=bytes(range(2, 34)))
    assert open_core(tmp_path).pending_count() == 0


def test_bad_input_gets_typed_errors(tmp_path):
    core = open_core(tmp_path)
    with pytest.raises(fc.FieldCrewError.Validation) as e:
        core.agenda("25/11/2026", None)
    assert e.value.field == "day"
    with pytest.raises(fc.FieldCrewError.Validation) as e:
        core.order_detail("not-a-uuid")
    assert e.value.field == "order_id"
    with pytest.raises(fc.FieldCrewError.NotFound):
        core.order_detail("019a0000-0000-7000-8000-000000000000")
    with pytest.raises(fc.FieldCrewError.Validation) as e:
        core.agenda("2026-11-25", fc.GeoPoint(lat=91.0, lon=0.0))
    assert e.value.field == "lat"
    # Status reports need a signed-in member.
    report = fc.StatusReport(
        order_id="019a0000-0000-7000-8000-000000000000",
        to=fc.Status.ACCEPTED,
        reason=None,
        note="",
        fix=None,
    )
    with pytest.raises(fc.FieldCrewError.Auth):
        core.report_status(report)


def test_rekey_then_wipe(tmp_path):
    core = open_core(tmp_path)
    core.sign_in("m-li", "crew-west")
    new_key = bytes(range(100, 132))
    core.rekey(new_key)
    assert core.pending_count() == 0
    del core
    with pytest.raises(fc.FieldCrewError.WrongKey):
        open_core(tmp_path)
    core = open_core(tmp_path, key=new_key)
    assert core.agenda("2026-11-25", None) == []
    core.wipe(False)
    assert not os.path.exists(tmp_path / "fieldcrew.db")
    with pytest.raises(fc.FieldCrewError.Storage):
        core.pending_count()
