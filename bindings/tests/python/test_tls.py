"""A utility's own CA through the bindings: a phone that is given the CA syncs over HTTPS, one
that is not fails with a Network error, and a CA that is not a certificate is refused at open."""

from datetime import datetime, timedelta

import pytest

import fieldcrew_ffi as fc
from test_crew_day import CHINA, KEY, new_order


def test_a_private_ca_is_trusted_only_when_given(tls_server, tmp_path):
    assert tls_server.url.startswith("https://127.0.0.1:")
    slot = datetime.now(CHINA).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    tls_server.office("POST", "/v1/office/orders", {"orders": [
        new_order("GD-TLS-PY-1", "new_connection", slot),
    ]})

    untrusting = fc.FieldCrew.open(fc.Config(data_dir=str(tmp_path / "a"), store_key=KEY))
    with pytest.raises(fc.FieldCrewError.Network) as refused:
        untrusting.login(tls_server.url, tls_server.crew_token)
    assert "certificate" in str(refused.value)

    core = fc.FieldCrew.open(fc.Config(
        data_dir=str(tmp_path / "b"), store_key=KEY, extra_root_certs_pem=tls_server.ca_pem,
    ))
    login = core.login(tls_server.url, tls_server.crew_token)
    assert (login.member_id, login.crew_id) == ("m-li", "crew-west")
    assert core.sync(None).orders_received == 1
    # A later start: use_server keeps trusting the CA given at open.
    core.use_server(tls_server.url, tls_server.crew_token)
    assert core.sync(None).pushed == 0


def test_a_ca_that_is_not_a_certificate_is_refused_at_open(tmp_path):
    for pem in ["", "not a certificate", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"]:
        with pytest.raises(fc.FieldCrewError.Validation) as e:
            fc.FieldCrew.open(fc.Config(
                data_dir=str(tmp_path / "phone"), store_key=KEY, extra_root_certs_pem=pem,
            ))
        assert e.value.field == "extra_root_certs_pem"
