"""Sparse supervision on the synthetic FPHAB set, with and without photometric consistency.

    python experiments/sparse_consistency.py --data_root DIR --mano_root DIR --fractions 0.00625 \
        --seeds 0 1 2 3 4 --step1_epochs N --step2_epochs M --lr 3e-4 --step2_lr 1e-4 --lambda_consist L [L ...] \
        --out experiments/results/NAME [--estimate]

Protocol (the original's README recipes): step 1 = trainmeshreg.py --freeze_batchnorm --fraction f for N epochs;
step 2 = trainmeshwarp.py --freeze_batchnorm --consist_gt_refs --fraction f --resume <step 1> for M more epochs at
--step2_lr, once as the control (--lambda_data 1 --lambda_consist 0) and once with consistency per --lambda_consist
value (a grid, for choosing it on a validation set). Every model is evaluated on the test split and on the training
frames left unannotated (those the photometric loss sees). Writes --out/results.json, table.md (both evaluation
sets, per-seed paired changes and the convergence check), plot.png, plot_seeds.png (per-seed paired
changes), plot_lambda.png (a grid), and one small JSON per finished run in --out/runs/ (commit them: a rerun
skips every run whose result is there, even on a new machine). See experiments/README.md.
"""

import argparse
import json
import shlex
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.sparsesup import aggregate, data, runs  # noqa: E402
from experiments.sparsesup.estimate import estimate  # noqa: E402
from experiments.sparsesup.plot import plot_errors, plot_lambda_grid, plot_paired_seeds  # noqa: E402
from handobjectconsist.entry import Parser, run_main  # noqa: E402
from handobjectconsist.errors import UsageError  # noqa: E402


def parser() -> argparse.ArgumentParser:
    p = Parser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data_root", required=True,
                   help="folder holding fhbhands/ (or the FPHAB folder itself); a missing set is generated")
    p.add_argument("--mano_root", required=True,
                   help="folder with MANO_RIGHT.pkl; the synthetic MANO-format hand is written there if missing")
    p.add_argument("--preset", default="bench", choices=["tiny", "demo", "bench"], help="synthetic set to generate")
    p.add_argument("--data_seed", type=int, default=0, help="seed of the generated dataset")
    p.add_argument("--gen_workers", type=int, default=2, help="processes generating the dataset")
    p.add_argument("--fractions", type=float, nargs="+", default=[0.0125, 0.05, 0.2], help="annotated fractions")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--step1_epochs", type=int, required=True, help="epochs of supervised step 1")
    p.add_argument("--step2_epochs", type=int, required=True, help="epochs of step 2 (consistency and control)")
    p.add_argument("--input_width", type=int, default=128, help="frame width fed to the network (16:9)")
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--lr", type=float, default=5e-5, help="learning rate of step 1")
    p.add_argument("--step2_lr", type=float, default=None,
                   help="learning rate of step 2, both arms (default: --lr)")
    p.add_argument("--encoder_arch", default="resnet18", choices=["resnet18", "resnet34", "resnet50", "tiny"])
    p.add_argument("--pretrained", default=None,
                   help="step 1's initial encoder weights: 'imagenet', a local torchvision state dict, or none "
                        "(default: random weights, the regime of the experiments so far)")
    p.add_argument("--lambda_consist", type=float, nargs="+", default=[0.001],
                   help="photometric weight of the consistency runs (upstream 0.001); several values: one "
                        "consistency run per value and seed, sharing step 1 and the control (a grid)")
    p.add_argument("--lambda_data", type=float, default=0.999, help="supervised weight of the consistency runs")
    p.add_argument("--progressive_consist_steps", type=int, default=1000,
                   help="lambda_consist ramp length in consist batches (upstream 1000; 0: no ramp)")
    p.add_argument("--consist_criterion", default="l1", choices=["l1", "l2", "ssim"])
    p.add_argument("--extra", default="", help="further training flags for both steps, e.g. \"--max_rot 0.2\"")
    p.add_argument("--step1_extra", default="",
                   help="further training flags for step 1 only, after --extra, e.g. \"--lr_decay_step 200 "
                        "--lr_decay_gamma 0.333\" (a learning-rate drop at the end of step 1)")
    p.add_argument("--step2_extra", default="",
                   help="further training flags for step 2 only (both arms), after --extra so they override it, "
                        "e.g. \"--mano_lambda_shape 0.1\"; step 1 is shared with runs without them")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--workers", type=int, default=0, help="data-loader workers")
    p.add_argument("--eval_mini_factor", type=float, default=1,
                   help="evaluate every run on the same fixed random 1/N of the test frames (1: all)")
    p.add_argument("--no_eval_unannotated", action="store_true",
                   help="skip the evaluation on the unannotated training frames")
    p.add_argument("--out", default="experiments/results/sparse_consistency",
                   help="folder for results.json, table.md, plot.png (small, committed)")
    p.add_argument("--runs_dir", default=None,
                   help="experiment folders of the runs (large; default checkpoints/sparse_consistency/<out name>)")
    p.add_argument("--estimate", action="store_true",
                   help="print the number of runs and their time on this machine from timed first epochs; no runs")
    return p


EVALUATION_SETS = (("metrics", "the test split"),
                   ("metrics_unannotated", "the unannotated training frames (those the photometric loss sees)"))


def write_outputs(records, out: Path, command: str, settings, lambdas) -> None:
    """results.json, table.md and plot.png from the finished runs: per lambda_consist and evaluation set, a table
    of means over seeds and one of per-seed paired changes."""
    out.mkdir(parents=True, exist_ok=True)
    sections, summaries = [f"Command: `{command}`", ""], {}
    step2_flags = f"\nstep 2 (both arms): {shlex.join(settings.step2_extra)}" if settings.step2_extra else ""
    if settings.step1_extra:
        step2_flags = f"\nstep 1: {shlex.join(settings.step1_extra)}" + step2_flags
    for lambda_consist in lambdas:
        chosen = [r for r in records if r["method"] != "consist" or r.get("lambda_consist") == lambda_consist]
        for metrics_key, evaluated_on in EVALUATION_SETS:
            summary = aggregate.summarize(chosen, metrics_key)
            if not summary["fractions"]:
                continue
            summaries[f"lambda_consist={lambda_consist:g}/{metrics_key}"] = summary
            sections += [f"### lambda_consist {lambda_consist:g}, evaluated on {evaluated_on}", "",
                         aggregate.format_table(summary, evaluated_on=evaluated_on),
                         aggregate.format_per_seed(aggregate.per_seed_changes(chosen, metrics_key), evaluated_on)]
            if metrics_key == "metrics" and lambda_consist == lambdas[0]:
                plot_errors(summary, out / "plot.png",
                            title=f"synthetic FPHAB, step 1 {settings.step1_epochs} + step 2 {settings.step2_epochs}"
                                  f" epochs, lambda_consist {lambda_consist:g}, width {settings.input_width}"
                                  f"{step2_flags}")
    if len(lambdas) > 1:
        plot_lambda_grid(summaries, lambdas, [(key, label.split(" (")[0]) for key, label in EVALUATION_SETS],
                         out / "plot_lambda.png",
                         title="synthetic FPHAB, lambda_consist grid: consistency vs control (paired per seed), "
                               f"step 1 "
                               f"{settings.step1_epochs} + step 2 {settings.step2_epochs} epochs, width "
                               f"{settings.input_width}{step2_flags}")
    chosen = [r for r in records if r["method"] != "consist" or r.get("lambda_consist") == lambdas[0]]
    per_seed, fraction = {}, None
    for metrics_key, evaluated_on in EVALUATION_SETS:
        changes = aggregate.per_seed_changes(chosen, metrics_key)
        if changes:
            fraction = min(changes) if fraction is None else fraction
            per_seed[evaluated_on.split(" (")[0]] = changes.get(fraction, [])
    if per_seed:
        plot_paired_seeds(per_seed, out / "plot_seeds.png",
                          title=f"synthetic FPHAB, {100 * fraction:g} % annotated: "
                                f"consistency (lambda_consist {lambdas[0]:g}) vs control, paired per seed"
                                f"{step2_flags}")
    for metrics_key, evaluated_on in EVALUATION_SETS:
        check = aggregate.format_convergence(aggregate.convergence_check(records, metrics_key))
        if check:
            sections += [f"Evaluated on {evaluated_on}:", "", check.replace("\n", "  \n"), ""]
    payload = {"command": command, "settings": runs.settings_dict(settings), "lambdas": list(lambdas),
               "runs": records, "summaries": summaries,
               "convergence": {key: aggregate.convergence_check(records, key) for key, _ in EVALUATION_SETS},
               "target": {key: aggregate.target_verdict(summary) for key, summary in summaries.items()}}
    runs.write_json_atomic(out / "results.json", payload)
    (out / "table.md").write_text("\n".join(sections) + "\n")


def main(argv=None) -> int:
    """The command under the project's error policy (handobjectconsist.entry): user errors print one line."""
    return run_main(run, argv)


def run(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    command = "python experiments/sparse_consistency.py " + shlex.join(argv)
    out = Path(args.out)
    runs_dir = Path(args.runs_dir) if args.runs_dir else Path("checkpoints") / "sparse_consistency" / out.name
    mano_root = data.ensure_mano(args.mano_root)
    folder = data.dataset_dir(args.data_root)
    if folder.is_dir() or not args.estimate:
        folder = data.ensure_fphab(args.data_root, mano_root, args.preset, args.data_seed, args.gen_workers)
    train_root = data.training_data_root(folder, runs_dir / "data")
    settings = runs.Settings(
        data_root=str(train_root), mano_root=str(mano_root), input_width=args.input_width,
        batch_size=args.batch_size, lr=args.lr, encoder_arch=args.encoder_arch, pretrained=args.pretrained,
        step1_epochs=args.step1_epochs, step2_epochs=args.step2_epochs, lambda_data=args.lambda_data,
        lambda_consist=args.lambda_consist[0], progressive_consist_steps=args.progressive_consist_steps,
        consist_criterion=args.consist_criterion, extra=shlex.split(args.extra), device=args.device,
        step2_extra=shlex.split(args.step2_extra), step1_extra=shlex.split(args.step1_extra),
        workers=args.workers, eval_mini_factor=args.eval_mini_factor, step2_lr=args.step2_lr,
        eval_unannotated=not args.no_eval_unannotated, data_id=data.dataset_id(folder, mano_root))
    lambdas = list(dict.fromkeys(args.lambda_consist))
    fractions = sorted(set(args.fractions))
    if args.estimate:
        result = estimate(settings, folder, args.preset, args.data_seed, fractions, args.seeds, runs_dir,
                          n_lambdas=len(lambdas))
        print(json.dumps({k: v for k, v in result.items() if k != "per_fraction"}, indent=1))
        return 0
    counts = data.counts_from_dataset(folder)
    for fraction in fractions:
        annotated = data.annotated_count(counts["train"], fraction)
        if annotated < args.batch_size:
            raise UsageError(f"--fractions {fraction:g}: only {annotated} annotated training frames in {folder}, "
                             f"fewer than --batch_size {args.batch_size} (training drops incomplete batches, so it "
                             f"would take no step); use a larger fraction or a smaller --batch_size")
    records = runs.run_grid(settings, runs_dir, fractions, args.seeds, counts,
                            after_each=lambda done: write_outputs(done, out, command, settings, lambdas),
                            lambdas=lambdas, results_dir=out)
    write_outputs(records, out, command, settings, lambdas)
    print((out / "table.md").read_text())
    print(f"wrote {out / 'results.json'}, {out / 'table.md'}, {out / 'plot.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
