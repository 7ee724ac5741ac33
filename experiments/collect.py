"""Print a Markdown table of the runs of one MLflow experiment (the figures in experiments/*.md).

    python experiments/collect.py baselines [--tracking-uri sqlite:///mlflow.db]
"""

import argparse

import mlflow

from stancebench.tracking import resolve_tracking_uri


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("experiment")
    parser.add_argument("--tracking-uri", default=None)
    args = parser.parse_args()
    client = mlflow.MlflowClient(resolve_tracking_uri(args.tracking_uri))
    experiment = client.get_experiment_by_name(args.experiment)
    runs = client.search_runs([experiment.experiment_id], filter_string="attributes.status = 'FINISHED'",
                              order_by=["tags.eval_dataset", "tags.task", "tags.model"])
    print("| trained on | evaluated on | task | model | protocol | n_train | n_eval | main score [95% CI] "
          "| macro_f1 [95% CI] | run id |")
    print("|---|---|---|---|---|---:|---:|---|---|---|")
    for run in runs:
        tags, m, p = run.data.tags, run.data.metrics, run.data.params
        main = p.get("task.main_score")
        print(f"| {tags['dataset']} | {tags['eval_dataset']} | {tags['task']} | {tags['model']} | "
              f"{tags['protocol']} | {p['n_train']} | {int(m['n_eval'])} | {main} {m[main]:.3f} [{m[main + '_ci_low']:.3f}, {m[main + '_ci_high']:.3f}] | "
              f"{m['macro_f1']:.3f} [{m['macro_f1_ci_low']:.3f}, {m['macro_f1_ci_high']:.3f}] | `{run.info.run_id}` |")


if __name__ == "__main__":
    main()
