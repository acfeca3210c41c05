"""Property tests for the personal-data detectors and the keyed hash."""

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import privacy

nik_digits = st.text(alphabet=string.digits, min_size=16, max_size=16)
phones = st.builds(lambda p, a, b, c, sep: f"{p}8{a}{sep}{b}{sep}{c}",
                   st.sampled_from(["0", "+62", "62", "+62 "]), st.text(string.digits, min_size=2, max_size=2),
                   st.text(string.digits, min_size=4, max_size=4), st.text(string.digits, min_size=3, max_size=4),
                   st.sampled_from(["", "-", " ", "."]))
emails = st.builds(lambda u, d, t: f"{u}@{d}.{t}", st.text(string.ascii_lowercase + string.digits + ".", min_size=1,
                                                           max_size=12).filter(lambda u: u.strip(".")),
                   st.text(string.ascii_lowercase, min_size=2, max_size=10), st.sampled_from(["id", "com", "co.id"]))
words = st.text(alphabet=string.ascii_letters + " /-", max_size=30)


@given(nik_digits, words, words)
def test_a_nik_anywhere_in_a_cell_is_masked(nik, before, after):
    masked, kinds = privacy.mask(f"{before} {nik} {after}")
    assert nik not in masked and "nik" in kinds


@given(st.integers(min_value=11 * 10**14, max_value=95 * 10**14 - 1))  # province codes 11-94
def test_a_nik_stored_as_a_float_is_masked(value):
    text = f"{float(value):.4E}"  # how Excel shows it: 6.4021E+15
    masked, kinds = privacy.mask(text)
    assert masked == "[NIK]" and kinds == ["nik"]


@given(phones, words)
def test_phone_numbers_are_masked(phone, before):
    masked, kinds = privacy.mask(f"{before} {phone}")
    assert phone.strip() not in masked and "phone" in kinds


@given(emails, words)
def test_emails_are_masked(email, before):
    masked, kinds = privacy.mask(f"{before} {email}")
    assert email not in masked and "email" in kinds


@settings(max_examples=300)
@given(st.one_of(
    st.dates().map(lambda d: d.strftime("%d/%m/%Y")), st.integers(0, 120).map(lambda a: f"{a} th"),
    st.sampled_from(["Fisik/KDRT", "Rumah Tangga", "001/PPA/XI/2025", "REG-2024-0153", "Batu Ampar", "45123",
                     "2024-03-05", "Pengaduan, Kesehatan", "Korban ke 2"]),
))
def test_ordinary_register_values_are_left_alone(value):
    assert privacy.mask(value) == (value, [])


@given(nik_digits)
def test_identity_key_is_stable_keyed_and_never_the_value(nik):
    key = privacy.identity_key(nik)
    assert key == privacy.identity_key(f" {nik[:6]}.{nik[6:12]}.{nik[12:]} ")
    assert nik not in key and len(key) == 32
    assert privacy.identity_key(nik[:15]) is None


def test_identity_key_depends_on_the_secret(monkeypatch):
    first = privacy.identity_key("6402011234560001")
    monkeypatch.setenv("PPA_HASH_SECRET", "another-secret-for-the-keyed-hashes")
    assert privacy.identity_key("6402011234560001") != first


def test_secret_file_is_created_once_and_private(monkeypatch, tmp_path):
    monkeypatch.delenv("PPA_HASH_SECRET")
    monkeypatch.setenv("PPA_SECRET_FILE", str(tmp_path / "secret"))
    first = privacy.keyed_hash("x")
    assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o600
    assert privacy.keyed_hash("x") == first
