"""Import a 50 MB camt.053 statement: time and peak memory of `pmdesk payments import`.

    python -m bench.camt [--megabytes 50]

The statement is written entry by entry (it never sits in memory here),
then imported by the command in a child process, whose peak resident
memory is read from getrusage once it has finished.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
<BkToCstmrStmt><GrpHdr><MsgId>BENCH</MsgId><CreDtTm>2026-11-23T06:00:00</CreDtTm></GrpHdr>
<Stmt><Id>BENCH-1</Id><CreDtTm>2026-11-23T06:00:00</CreDtTm>
<Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id><Ccy>EUR</Ccy></Acct>
"""
TAIL = "</Stmt></BkToCstmrStmt></Document>\n"
ENTRY = """<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{sign}</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt><AcctSvcrRef>REF{n:09d}</AcctSvcrRef>
<NtryDtls><TxDtls><Refs><EndToEndId>E2E{n:09d}</EndToEndId></Refs>
<RltdPties><Dbtr><Nm>Client {client} SARL</Nm></Dbtr>
<DbtrAcct><Id><IBAN>FR1420041010050500013M02606</IBAN></Id></DbtrAcct></RltdPties>
<RmtInf><Ustrd>Facture INV-2026-{invoice:05d} merci</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
"""


def write_statement(path: Path, megabytes: float, seed: int = 5) -> int:
    rng = random.Random(seed)
    target = int(megabytes * 1_000_000)
    start = date(2026, 1, 1)
    entries = 0
    with path.open("w", encoding="utf-8") as handle:
        handle.write(HEAD)
        while handle.tell() < target - len(TAIL):
            entries += 1
            handle.write(
                ENTRY.format(
                    amount=f"{rng.randrange(1_000, 900_000) / 100:.2f}",
                    sign="CRDT" if rng.random() < 0.8 else "DBIT",
                    day=start + timedelta(days=entries // 300),
                    n=entries,
                    client=rng.randrange(2000),
                    invoice=rng.randrange(1, 99_999),
                )
            )
        handle.write(TAIL)
    return entries


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=float, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        statement = Path(folder) / "statement.xml"
        entries = write_statement(statement, args.megabytes)
        size = statement.stat().st_size
        env = {**os.environ, "PMDESK_DB": str(Path(folder) / "bench.db")}
        env.pop("PMDESK_CONFIG", None)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "pmdesk", "payments", "import", str(statement), "--json"],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(f"camt.053 of {size / 1e6:.1f} MB, {entries} entries: {json.loads(done.stdout)}")
        print(
            f"import (process start to exit): {elapsed:.2f} s, peak memory {peak_kib / 1024:.0f} MB"
        )


if __name__ == "__main__":
    main()
