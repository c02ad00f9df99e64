"""pipeline.progress: a log line per 10 % with the ETA where there is no terminal; pipeline.workers.pool_map."""

from pipeline import progress as P
from pipeline.workers import pool_map


def test_duration_reads_like_a_person_says_it():
    assert [P.duration(s) for s in (0.4, 42, 65, 3600 + 125)] == ["0 s", "42 s", "1 min 05 s", "1 h 02 min"]


def test_ticker_logs_one_line_per_tenth_with_the_time_left(capsys):
    tick = P.Ticker("embed", 200)
    for _ in range(200):
        tick.advance()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("embed: 20/200 (10%), ") and "ETA" in lines[0] and lines[0].endswith(" left")
    assert lines[-1].startswith("embed: 200/200 (100%)") and "ETA" not in lines[-1]


def test_a_big_step_logs_once_not_once_per_tenth_it_jumps(capsys):
    tick = P.Ticker("faces", 100)
    tick.advance(55)
    tick.advance(45)
    assert [line.split(",")[0] for line in capsys.readouterr().out.splitlines()] == \
        ["faces: 55/100 (55%)", "faces: 100/100 (100%)"]


def test_track_can_grow_the_work_and_is_silent_when_off(capsys):
    with P.track("faces", 10) as advance:
        advance(10)
        advance(0, total=20, label="faces (fallback)")
        advance(10)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("faces: 10/10") and out[-1].startswith("faces (fallback): 20/20 (100%)")
    with P.track("quiet", 5, enabled=False) as advance:
        advance(5)
    assert capsys.readouterr().out == ""


def _square(x: int) -> int:
    return x * x


def test_pool_map_keeps_the_order_and_counts_every_result():
    seen = []
    items = list(range(40))
    assert pool_map(_square, items, workers=2, advance=seen.append) == [x * x for x in items]
    assert pool_map(_square, items, workers=1) == [x * x for x in items]
    assert sum(seen) == 40


def test_every_total_gets_its_last_line(capsys):
    for total in (3, 7, 10, 49, 1000):
        tick = P.Ticker("x", total)
        for _ in range(total):
            tick.advance()
        lines = capsys.readouterr().out.splitlines()
        assert lines[-1].startswith(f"x: {total}/{total} (100%)") and len(lines) == min(total, 10)
