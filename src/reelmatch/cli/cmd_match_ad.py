NAME = "match-ad"
HELP = "movies for a commercial"
EXAMPLE = "reelmatch -w ws match-ad ads/spot.mp4 -k 10 --scenes --exclude-flag violence --json"


def add_arguments(p) -> None:
    from reelmatch.cli.common import add_exclusion_flags, add_json_flag

    p.add_argument("query", metavar="AD_FILE|ID", help="a commercial: a video file, or a catalogue id or title")
    p.add_argument("-k", type=int, default=10, help="number of trailers (default 10)")
    p.add_argument("--genre", help="only trailers with this genre")
    p.add_argument("--add", action="store_true", help="add a new ad file to the catalogue (and index) too")
    p.add_argument("--scenes", action="store_true",
                   help="also the best scenes of each movie for the ad and break candidates around them "
                        "(needs 'reelmatch scenes' run first)")
    p.add_argument("--scenes-per-movie", type=int, default=3, metavar="N", help="scenes per movie (default 3)")
    add_exclusion_flags(p)
    add_json_flag(p)


def run(args) -> int:
    from reelmatch.cli.cmd_similar import print_result
    from reelmatch.cli.common import exclusions_from_args, open_workspace
    from reelmatch.query import match_ad

    ws = open_workspace(args)
    res = match_ad(ws, args.query, args.k, genre=args.genre, add=args.add, exclusions=exclusions_from_args(args),
                   explain=args.explain, scenes=args.scenes, scenes_per_movie=args.scenes_per_movie)
    print_result(res, args.json)
    return 0
