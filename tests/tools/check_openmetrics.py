#!/usr/bin/env python3
"""Parses an OpenMetrics text file with prometheus_client's strict parser.

    check_openmetrics.py FILE

Prints one line per metric family (name, type, number of samples) and
exits 0; on a parse error prints it and exits 1. The broker tests run it on
the metrics verb's body (Debian: python3-prometheus-client).
"""
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as error:  # the parser raises ValueError and friends
        print(f"invalid OpenMetrics: {error}")
        return 1
    for family in families:
        print(f"{family.name} {family.type} {len(family.samples)}")
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            print(f"  {sample.name}{{{labels}}} {sample.value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
