NAME = "status"
HELP = "counts per stage; failures with reasons"
EXAMPLE = "reelmatch -w ws status --json"


def add_arguments(p) -> None:
    from reelmatch.cli.common import add_json_flag

    add_json_flag(p)


def run(args) -> int:
    from reelmatch.cli.common import emit_json, open_workspace

    ws = open_workspace(args)
    doc = ws.status()
    if args.json:
        emit_json(doc)
        return 0
    print(f"workspace {ws.root}: {doc['items']} items")
    print(f"{'stage':<10} {'done':>7} {'failed':>7} {'pending':>8}")
    for stage, c in doc["stages"].items():
        print(f"{stage:<10} {c['done']:>7} {c['failed']:>7} {c['pending']:>8}")
    if doc["failures"]:
        print(f"\n{len(doc['failures'])} failures:")
        for f in doc["failures"]:
            print(f"  [{f['stage']}] {f['id']} {f['title']}: {f['error']}")
    return 0
