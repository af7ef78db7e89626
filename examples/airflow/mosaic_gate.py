"""An Airflow DAG that gates a release on mosaic (DESIGN §9a).

A daily pipeline writes a candidate release to `CANDIDATE`; before it is published,
mosaic scans it together with everything already public (`PUBLISHED`). A hold stops
the pipeline (the release waits for the central authority's decision, DM25 Art 35);
an unreadable input also stops it (nothing unread may be called clean). The findings
JSON is pushed to XCom for the notice and the ledger steps downstream.

Install the mosaic wheel in the Airflow workers' environment:
    pip install mosaic_secrecy-*.whl
"""

from __future__ import annotations

import pendulum
from airflow.decorators import dag, task
from airflow.exceptions import AirflowFailException

CANDIDATE = "/data/releases/{{ ds }}/"
PUBLISHED = "/data/published/"
LEDGER = "/var/lib/mosaic/ledger.db"


@dag(schedule="@daily", start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"), catchup=False, tags=["release"])
def release_gate():
    @task
    def scan_candidate(candidate: str) -> dict:
        import mosaic

        try:
            report = mosaic.scan([candidate], published=[PUBLISHED], ledger=LEDGER, timeout=3600)
        except mosaic.MosaicError as e:
            # Exit 2 (configuration) or 3 (an input could not be read): fail closed.
            raise AirflowFailException(str(e)) from e
        holds = [f for f in report["findings"] if f["outcome"] in ("hold_and_report", "catalog_match", "derived")]
        if holds:
            items = ", ".join(sorted({f["item"] for f in holds}))
            raise AirflowFailException(f"release on hold: {len(holds)} finding(s) ({items}); see the ledger and notices")
        return report

    @task
    def publish(report: dict) -> None:
        print(f"mosaic verdict {report['verdict']}: publishing")

    publish(scan_candidate(CANDIDATE))


release_gate()
