#!/usr/bin/python3
"""The chart's alert rules and dashboard, readied for checking against a live Prometheus.

Usage: chart_expressions.py <chart dir> <rules out> <expressions out>

Writes <rules out>: rules/tartan-alerts.yaml with each __<key>__ replaced by the default
metrics.prometheusRule.thresholds.<key> of values.yaml (what templates/prometheusrule.yaml does
with helm's `replace`), and <expressions out>: one JSON object per line, {"source", "expr"},
for every alert expression and every dashboard target, with Grafana's $__rate_interval and
$__range given fixed values so Prometheus can evaluate them. Fails on a dashboard that does not
parse, a panel without a Prometheus datasource, a duplicate panel id, a target without expr, or
a placeholder left unreplaced.
"""
import json
import re
import sys

import yaml


def main():
    chart, rules_out, exprs_out = sys.argv[1:4]
    values = yaml.safe_load(open(f"{chart}/values.yaml"))
    thresholds = values["metrics"]["prometheusRule"]["thresholds"]
    rules_text = open(f"{chart}/rules/tartan-alerts.yaml").read()
    for key, value in thresholds.items():
        rules_text = rules_text.replace(f"__{key}__", str(value))
    left = re.findall(r"__[A-Za-z]+__", rules_text)
    if left:
        sys.exit(f"placeholders without a threshold in values.yaml: {sorted(set(left))}")
    open(rules_out, "w").write(rules_text)

    expressions = []
    for group in yaml.safe_load(rules_text)["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule.get("record")
            expressions.append({"source": f"rule {name}", "expr": rule["expr"]})

    dashboard = json.load(open(f"{chart}/dashboards/tartan.json"))
    ids = set()
    for panel in dashboard["panels"]:
        if panel["id"] in ids:
            sys.exit(f"duplicate panel id {panel['id']}")
        ids.add(panel["id"])
        if panel["type"] == "row":
            continue
        if panel.get("datasource", {}).get("type") != "prometheus":
            sys.exit(f"panel '{panel['title']}' has no Prometheus datasource")
        if not panel.get("targets"):
            sys.exit(f"panel '{panel['title']}' has no targets")
        for target in panel["targets"]:
            if not target.get("expr"):
                sys.exit(f"panel '{panel['title']}' target {target.get('refId')} has no expr")
            expr = target["expr"].replace("$__rate_interval", "15s").replace("$__range", "1m")
            if "$" in expr:
                sys.exit(f"panel '{panel['title']}': unknown variable in {expr}")
            expressions.append({"source": f"panel {panel['title']}", "expr": expr})
    with open(exprs_out, "w") as out:
        for item in expressions:
            out.write(json.dumps(item) + "\n")


if __name__ == "__main__":
    main()
