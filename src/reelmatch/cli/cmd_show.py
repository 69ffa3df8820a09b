NAME = "show"
HELP = "contact sheet PNG of a clip"
EXAMPLE = "reelmatch -w ws show 'Sintel' -o sintel.png"


def add_arguments(p) -> None:
    p.add_argument("item", metavar="ITEM", help="item id or exact title")
    p.add_argument("-o", "--output", default=None, metavar="PNG",
                   help="where to write the PNG (default: <workspace>/reports/clips/<id>.png)")


def run(args) -> int:
    from pathlib import Path

    from reelmatch.cli.common import info, open_workspace
    from reelmatch.dataset.store import ClipStore
    from reelmatch.extract.sheet import contact_sheet

    ws = open_workspace(args)
    item = ws.resolve(args.item)
    with ClipStore(ws) as store:
        clip = store.get(item.id)
    out = Path(args.output).expanduser() if args.output else ws.dir("reports") / "clips" / f"{item.id}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(clip, title=item.title).save(out, format="PNG")
    info(f"{item.title} ({item.id}): {clip.num_valid}/{len(clip.mask)} frames, audio={'yes' if clip.has_audio else 'no'}")
    print(out)
    return 0
