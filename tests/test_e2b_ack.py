"""Acknowledgement reading: the FDA positive and negative ACK examples, text and JSON output, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reporter.cli import main
from reporter.e2b.ack import read_ack
from reporter.errors import InputError


@pytest.fixture
def acks(shared_dir: Path) -> Path:
    return shared_dir / "e2b" / "examples" / "fda-faers-2022"


def test_positive_ack(acks: Path) -> None:
    ack = read_ack(acks / "R3ack-positive.ack")
    assert ack.code == "AA" and ack.accepted
    assert ack.batch_number == "FAERS2022Scenario1-4069-a2dd-08002b30309d"
    assert (ack.ack_sender, ack.ack_receiver, ack.ack_batch_number) == ("ZZFDA", "4567AB89012", "33439257")
    assert ack.local_message_number == "427032"
    assert ack.batch_transmitted == "20141214151617-0500"
    [msg] = ack.messages
    assert msg.code == "CA" and msg.accepted
    assert msg.local_report_number == "19426648"
    assert msg.message_created == "20141214151617-0500"
    assert (msg.sender, msg.receiver) == ("CDER", "4567AB89012")


def test_negative_ack(acks: Path) -> None:
    ack = read_ack(acks / "R3ack-negative.ack")
    assert ack.code == "AE" and not ack.accepted
    assert ack.details == ["some ICSR message(s) need further action"]
    [msg] = ack.messages
    assert msg.code == "CR" and not msg.accepted
    assert msg.message_id == "US-APHARMA-7644554"
    assert len(msg.details) == 4
    assert msg.details[2] == "Patient Ethnicity Code (FDA.D.12) must be provided"


def test_cli_text_and_exit_codes(acks: Path) -> None:
    runner = CliRunner()
    neg = runner.invoke(main, ["ack", str(acks / "R3ack-negative.ack")])
    assert neg.exit_code == 1
    assert "CR (rejected)" in neg.output and "FDA.C.1.12 is Mandatory" in neg.output
    pos = runner.invoke(main, ["ack", str(acks / "R3ack-positive.ack")])
    assert pos.exit_code == 0 and "AA (accepted)" in pos.output


def test_cli_json(acks: Path) -> None:
    result = CliRunner().invoke(main, ["ack", "--format", "json", str(acks / "R3ack-negative.ack")])
    data = json.loads(result.output)
    assert data["status"] == "accepted with errors"
    assert data["messages"][0]["status"] == "rejected"


def test_an_icsr_batch_is_not_an_ack(shared_dir: Path) -> None:
    with pytest.raises(InputError, match="expected MCCI_IN200101UV01"):
        read_ack(shared_dir / "e2b" / "examples" / "fda-faers-2022" / "FAERS2022Scenario1.xml")


def test_ack_without_code_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ack"
    bad.write_text('<MCCI_IN200101UV01 xmlns="urn:hl7-org:v3"><id root="1" extension="2"/>'
                   '</MCCI_IN200101UV01>')
    with pytest.raises(InputError, match=r"ACK\.A\.4"):
        read_ack(bad)
    result = CliRunner().invoke(main, ["ack", str(bad)])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_an_ack_with_padded_codes_reads_the_same(acks: Path, tmp_path: Path) -> None:
    """The receiver's tools may put spaces around codes (the HL7 token types collapse them)."""
    import re

    raw = (acks / "R3ack-positive.ack").read_bytes()
    padded = tmp_path / "padded.ack"
    padded.write_bytes(re.sub(rb'( (?:code|typeCode)=")([^"]*)"', rb'\1 \2 "', raw))
    assert padded.read_bytes() != raw
    assert read_ack(padded).to_json() == read_ack(acks / "R3ack-positive.ack").to_json()


def test_a_detail_with_a_semicolon_of_its_own_stays_one_detail(acks: Path, tmp_path: Path) -> None:
    """FDA packs errors as 'one.;Two'; one message written as prose ('C.1.5 is missing; add it') was split."""
    raw = (acks / "R3ack-negative.ack").read_text(encoding="utf-8")
    one = "Dose of drug 2 is 500 mg; the unit for 500 is not allowed here"
    edited = tmp_path / "prose.ack"
    edited.write_text(raw.replace("some ICSR message(s) need further action", one), encoding="utf-8")
    assert read_ack(edited).details == [one]
    assert len(read_ack(edited).messages[0].details) == 4  # the packed ones are still split
