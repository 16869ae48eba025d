"""The main demo: a run that records memory events and saves artifacts, read back after it ends.

``lr_sweep`` trains a toy model (a line fitted by gradient descent) at three learning rates, one
``train`` tool node per rate, concurrently. Each node records a memory event with its final loss
and saves its loss curve as a JSON artifact carrying the loss as a metric; the graph then records
the winner and saves a Markdown report.

After the run, the program reads it all back from the workspace: the runs with
``aethergraph.runtime.list_runs()``, then a second run in the same session (memory and the
``session`` artifact scope are shared by the runs of a session) that searches memory, picks the
best curve with ``artifacts().best`` and loads the report.

Everything is kept in the workspace folder, ``./aethergraph_data`` (or ``AETHERGRAPH_WORKSPACE``):
``aethergraph.db`` and ``artifacts/sha256/...``. Run the program again and the session's memory
holds the earlier runs' events too.

Run it: ``python examples/memory_and_artifacts.py``
"""

import asyncio
from pathlib import Path

import aethergraph.runtime
from aethergraph import graph_fn, run, tool

SESSION = "lr-sweep"
DATA = [(x / 10, 3.0 * x / 10 + 1.0) for x in range(-10, 11)]  # points on y = 3x + 1


def fit_line(lr: float, epochs: int) -> list[float]:
    """Gradient descent on mean squared error; the loss after each epoch."""
    w = b = 0.0
    curve = []
    for _ in range(epochs):
        grad_w = sum(2 * (w * x + b - y) * x for x, y in DATA) / len(DATA)
        grad_b = sum(2 * (w * x + b - y) for x, y in DATA) / len(DATA)
        w, b = w - lr * grad_w, b - lr * grad_b
        curve.append(sum((w * x + b - y) ** 2 for x, y in DATA) / len(DATA))
    return curve


@tool(outputs=["loss", "curve_uri"])
async def train(lr: float, epochs: int, *, context) -> dict:
    curve = fit_line(lr, epochs)
    loss = round(curve[-1], 6)
    await context.memory().record(
        "training",
        {"lr": lr, "epochs": epochs, "loss": loss},
        tags=["sweep", f"lr={lr}"],
        metrics={"loss": loss},
        text=f"lr {lr} finished {epochs} epochs with loss {loss:.6f}",
    )
    artifact = await context.artifacts().save_json(
        {"lr": lr, "loss_per_epoch": curve},
        kind="loss_curve",
        name=f"curve-lr{lr}.json",
        labels={"lr": lr},
        metrics={"loss": loss},
    )
    return {"loss": loss, "curve_uri": artifact.uri}


@graph_fn(name="lr_sweep", outputs=["best_lr", "best_loss", "report_uri"])
async def lr_sweep(rates: list, epochs: int, *, context):
    results = await asyncio.gather(*(train(lr=lr, epochs=epochs) for lr in rates))
    losses = {lr: r["loss"] for lr, r in zip(rates, results, strict=True)}
    best_lr = min(losses, key=losses.get)
    await context.memory().write_result(
        topic="lr_sweep",
        inputs={"rates": rates, "epochs": epochs},
        outputs={"best_lr": best_lr, "best_loss": losses[best_lr]},
        message=f"best learning rate {best_lr}",
    )
    lines = ["# Learning-rate sweep", "", "| lr | final loss |", "| --- | --- |"]
    lines += [f"| {lr} | {loss:.6f} |" for lr, loss in losses.items()]
    lines += ["", f"Best: lr={best_lr} (loss {losses[best_lr]:.6f})."]
    report = await context.artifacts().save_text(
        "\n".join(lines) + "\n", kind="report", name="sweep-report.md", mime="text/markdown"
    )
    context.logger().info("sweep done", extra={"best_lr": best_lr})
    return {"best_lr": best_lr, "best_loss": losses[best_lr], "report_uri": report.uri}


@graph_fn(name="review_sweep")
async def review_sweep(report_uri: str, *, context):
    """Read back what the session's earlier runs left in memory and in the artifact store."""
    events = await context.memory().search("loss", kinds=["training"], limit=100)
    summary = await context.memory().get_last_outputs_for_topic("lr_sweep")
    best = await context.artifacts().best(
        kind="loss_curve", metric="loss", mode="min", scope="session"
    )
    curve = await context.artifacts().load_json(best)
    report = await context.artifacts().load_text(report_uri)
    return {
        "events": [{"text": e.text, "run_id": e.run_id, "node_id": e.node_id} for e in events],
        "summary": summary,
        "best": {"uri": best.uri, "name": best.name, "node_id": best.node_id, **best.metrics},
        "best_curve_head": [round(v, 4) for v in curve["loss_per_epoch"][:3]],
        "report": report,
    }


def main() -> None:
    print("running lr_sweep ...")
    out = run(lr_sweep, {"rates": [0.02, 0.1, 0.3], "epochs": 30}, session_id=SESSION)
    print(f"outputs: {out}")

    workspace = Path(aethergraph.runtime.workspace())
    blobs = sum(1 for p in (workspace / "artifacts" / "sha256").rglob("*") if p.is_file())
    print(f"\nworkspace {workspace}: aethergraph.db + {blobs} blob(s) under artifacts/sha256/")

    print("\nruns in this session (aethergraph.runtime.list_runs), newest first:")
    for record in aethergraph.runtime.list_runs(session_id=SESSION, limit=5):
        print(f"  {record.run_id}  {record.graph_id:<12} {record.status}")

    seen = run(review_sweep, {"report_uri": out["report_uri"]}, session_id=SESSION)
    print(f"\nmemory search 'loss' (kind training): {len(seen['events'])} event(s), newest:")
    for event in seen["events"][-3:]:
        print(f"  {event['text']}   [{event['node_id']}]")
    print(f"last lr_sweep result in memory: {seen['summary']}")
    best = seen["best"]
    print(f"best artifact: {best['name']} loss={best['loss']:.6f} from node {best['node_id']}")
    print(f"  {best['uri']}, first losses {seen['best_curve_head']}")
    print(f"\nreport ({out['report_uri']}):\n{seen['report']}")


if __name__ == "__main__":
    main()
