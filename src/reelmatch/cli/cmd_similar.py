NAME = "similar"
HELP = "neighbours of a title, id or video file"
EXAMPLE = "reelmatch -w ws similar 'Sintel' -k 5 --json"


def add_arguments(p) -> None:
    from reelmatch.cli.common import add_exclusion_flags, add_json_flag

    p.add_argument("query", metavar="TITLE|ID|VIDEO_FILE", help="a catalogue id, an exact title, or a video file")
    p.add_argument("-k", type=int, default=10, help="number of results (default 10)")
    p.add_argument("--genre", help="only items with this genre")
    p.add_argument("--kind", choices=("trailer", "ad"), help="only trailers or only ads")
    p.add_argument("--exclude-same-title", action="store_true", help="leave out items with the query's title")
    p.add_argument("--exclude-duplicates", action="store_true",
                   help="leave out copies of the query (re-encodes, crops, cuts; needs 'reelmatch dedupe' run first)")
    p.add_argument("--duplicate-threshold", type=float, default=None, metavar="T",
                   help="with --exclude-duplicates: the copy-score threshold (default: dedupe's calibrated one)")
    p.add_argument("--add", action="store_true", help="add a new video file to the catalogue (and index) too")
    add_exclusion_flags(p)
    add_json_flag(p)


def run(args) -> int:
    from reelmatch.cli.common import exclusions_from_args, open_workspace
    from reelmatch.query import similar

    ws = open_workspace(args)
    res = similar(ws, args.query, args.k, genre=args.genre, kind=args.kind,
                  exclude_same_title=args.exclude_same_title, add=args.add,
                  exclude_duplicates=(args.duplicate_threshold if args.duplicate_threshold is not None else True)
                  if args.exclude_duplicates else False,
                  exclusions=exclusions_from_args(args), explain=args.explain)
    print_result(res, args.json)
    return 0


def print_result(res, as_json: bool) -> None:
    """The JSON document, or a table (rank, title, score, shared genres) for people."""
    from reelmatch.cli.common import emit_json, info

    if res.mode == "backbone":
        info("note: no trained model yet: similarity from the pretrained backbone alone (looks and sound, not genre)")
    if as_json:
        emit_json(res.to_dict())
        return
    q = res.query
    print(f"{q.get('title')}  ({q.get('id') or q.get('path')})")
    if not res.results:
        print("  no results")
        return
    cols = [m for m in ("visual", "audio", "text") if any((n.scores or {}).get(m) is not None for n in res.results)]
    head = f"{'rank':>4}  {'score':>6}  " + "".join(f"{m:>6}  " for m in cols) + f"{'kind':<7}  title  [shared genres]"
    print(head)
    for n in res.results:
        extra = "".join(f"{v:>6.3f}  " if v is not None else f"{'-':>6}  " for v in ((n.scores or {}).get(m) for m in cols))
        shared = f"  [{', '.join(n.shared_genres)}]" if n.shared_genres else ""
        only = "  (by its plot: no clip yet)" if n.modalities == ("text",) else ""
        print(f"{n.rank:>4}  {n.score:>6.3f}  {extra}{n.kind:<7}  {n.title}{shared}{only}")
        if n.explain is not None:
            print("        why: " + explain_line(n.explain))
        for sc in n.scenes or ():
            print(f"        scene {sc['start']:8.2f}-{sc['end']:8.2f} s  score {sc['score']:.3f}")
        if n.breaks:
            print("        breaks at " + ", ".join(f"{b['time']:.2f} s" for b in n.breaks))


def explain_line(why: dict) -> str:
    """One line for people from an ``explain`` document."""
    sim = why["similarity"]
    parts = [f"visual {sim['visual']:.3f}", f"audio {sim['audio']:.3f}" if sim["audio"] is not None else "no audio"]
    if why.get("shared_genres"):
        parts.append("genres " + ", ".join(why["shared_genres"]))
    if why.get("shared_flags"):
        parts.append("flags " + ", ".join(why["shared_flags"]))
    f = why.get("frames")
    if f:
        qt = "?" if f["query_time"] is None else f"{f['query_time']:.1f} s"
        rt = "?" if f["result_time"] is None else f"{f['result_time']:.1f} s"
        parts.append(f"best frames {qt} ~ {rt} ({f['similarity']:.3f})")
    return "; ".join(parts)
