"""The per-run panes (gradients, weights, decision boundary), driven as a user drives them:
what they say before anything is measured, on deep and on all-zero networks, and the
boundary's validation points and discretized output."""

from __future__ import annotations

import numpy as np
import pytest
from rich.console import Console

from conftest import LESSON
from nnsim.tui import colors
from nnsim.tui.app import create_app
from nnsim.tui.panes.boundary import TEST_MARK, BoundaryView
from nnsim.core.layers import layer_names
from nnsim.tui.panes.gradients import GradientBars, alerts, fitted_range
from nnsim.tui.panes.plot import Plot, tick_labels
from pilot import scenario_file, settled, shown_text, wait_until

SMALL = (80, 24)

DEEP = LESSON.replace("layers = [8, 8]", "layers = [" + ", ".join(["8"] * 20) + "]")
ZEROS = LESSON.replace("layers = [8, 8]", 'layers = [8, 8]\ninit = "zeros"')


async def open_pane(app, pilot, key: str, stop_at: int) -> None:
    await wait_until(pilot, settled(app))
    await pilot.press(key)
    await wait_until(pilot, lambda: app.up_to_date)
    await pilot.pause()
    assert app.frame.step == stop_at


async def test_gradients_before_the_first_step_are_not_measured_not_an_alarm(tmp_path):
    app = create(tmp_path, LESSON, stop_at=20)
    async with app.run_test(size=SMALL) as pilot:
        await open_pane(app, pilot, "3", stop_at=20)
        assert "not measured" not in str(app.query_one("#grad-alerts").render())
        await pilot.press("r")          # paused: back to step 0, where nothing is measured
        await wait_until(pilot, lambda: app.frame.step == 0 and app.up_to_date)
        await pilot.pause()
        said = str(app.query_one("#grad-alerts").render())
        assert "not measured yet" in said
        assert "exploding" not in said and "vanishing" not in said
        assert "nan" not in shown_text(app.query_one("#grad-bars")).lower()


def test_nan_norms_of_a_diverged_run_are_said_to_be_so():
    names = layer_names(3)
    norms = np.array([np.nan, np.nan, np.nan])
    assert "not measured yet" in str(alerts(norms, norms, names, [False] * 3))
    said = str(alerts(norms, norms, names, [False] * 3, diverged=True))
    assert "diverged" in said and "not measured" not in said and "nan" not in said


async def test_every_layer_of_a_deep_net_is_on_screen_at_80x24(tmp_path):
    app = create(tmp_path, DEEP, stop_at=20)
    async with app.run_test(size=SMALL) as pilot:
        await open_pane(app, pilot, "3", stop_at=20)
        bars = shown_text(app.query_one("#grad-bars"))
        for name in layer_names(21):
            assert f"{name}/" in bars or f"/{name} " in bars or f" {name} " in bars, name
        assert "not shown" not in bars


def test_layers_that_do_not_fit_even_two_a_row_are_named():
    names = layer_names(21)
    console = Console(width=40, color_system=None)
    with console.capture() as capture:
        console.print(GradientBars(np.full(21, 0.1), names, (-2.0, 0.0)), height=6)
    lines = capture.get().splitlines()
    assert len(lines) <= 6
    assert "h7–out not shown" in lines[-2]


@pytest.mark.parametrize("height", [1, 2, 3, 4])
def test_a_pane_squeezed_to_a_row_or_two_still_draws_its_bars(height):
    """While a terminal resizes, the pane can be a row or two high for a frame: it says what
    it cannot show instead of failing (it crashed the app on max() of no labels)."""
    console = Console(width=40, color_system=None)
    with console.capture() as capture:
        console.print(GradientBars(np.full(3, 0.1), layer_names(3), (-2.0, 0.0)), height=height)
    assert "not shown" in capture.get() or "h1" in capture.get()


def test_the_bar_axis_fits_the_decades_present_so_a_factor_two_shows():
    norms = np.array([0.1, 0.2])
    low, high = fitted_range(norms)
    assert 10 ** low < 0.1 and 10 ** high >= 0.2 and high - low <= 1
    bars = GradientBars(norms, layer_names(2), (low, high))
    short, long = bars._length(0, 40), bars._length(1, 40)
    assert long - short >= 0.25 * 40        # a 12-decade axis gave the factor 2 one column


async def test_gradient_and_weight_panes_name_layers_as_every_view_does(tmp_path):
    app = create(tmp_path, LESSON, stop_at=20)
    async with app.run_test(size=SMALL) as pilot:
        await open_pane(app, pilot, "3", stop_at=20)
        bars = shown_text(app.query_one("#grad-bars"))
        assert "\n h1 █" in bars and "\nout █" in bars and " 0 " not in bars and " -1 " not in bars
        await pilot.press("4", "left_square_bracket")
        assert "out (" in app.query_one("#weights").border_subtitle


async def test_all_zero_weights_read_as_symmetric_not_vanishing(tmp_path):
    app = create(tmp_path, ZEROS, stop_at=20)
    async with app.run_test(size=SMALL) as pilot:
        await open_pane(app, pilot, "3", stop_at=20)
        said = str(app.query_one("#grad-alerts").render())
        assert "zero (symmetric): h1 h2 out" in said and "vanishing" not in said


def initial_cells(plot: Plot) -> int:
    """Characters of the weights histogram drawn in the step-0 grey."""
    grey = colors.INITIAL
    return sum(len(text) for text, style, _ in plot.render().render(Console())
               if style and style.color and style.color.triplet and tuple(style.color.triplet) == grey)


async def test_the_step_0_histogram_shows_only_where_weights_left(tmp_path):
    app = create(tmp_path, ZEROS, stop_at=20)
    async with app.run_test(size=SMALL) as pilot:
        await open_pane(app, pilot, "4", stop_at=20)
        plot = app.query_one("#weights-plot", Plot)
        assert initial_cells(plot) == 0         # the zero weights never moved: all bar, no grey
    app = create(tmp_path, LESSON, stop_at=100)
    async with app.run_test(size=SMALL) as pilot:
        await open_pane(app, pilot, "4", stop_at=100)
        assert initial_cells(app.query_one("#weights-plot", Plot)) > 0


async def test_the_end_bins_are_labelled_as_overflow(tmp_path):
    app = create(tmp_path, LESSON, stop_at=20)
    async with app.run_test(size=SMALL) as pilot:
        await open_pane(app, pilot, "4", stop_at=20)
        edges = app.frame.pictures[0].weight_hist_edges[0]
        axis = str(app.query_one("#weights-plot", Plot).render())
        assert f"<{edges[1]:.2g}" in axis and f"≥{edges[-2]:.2g}" in axis
        assert "ends: all beyond" in str(app.query_one("#weights-legend").render())


async def test_t_shows_the_validation_points_and_z_discretizes_the_boundary(tmp_path):
    app = create(tmp_path, LESSON, stop_at=50)
    async with app.run_test(size=SMALL) as pilot:
        await open_pane(app, pilot, "2", stop_at=50)
        view = app.query_one(BoundaryView)
        assert TEST_MARK not in shown_text(view)
        smooth = plane_colors(view)
        await pilot.press("t")
        assert shown_text(view).count(TEST_MARK) > 10
        assert f"{TEST_MARK} val" in str(app.query_one("#boundary-note").render())
        await pilot.press("z")
        assert len(plane_colors(view)) <= 4 < len(smooth)      # two classes, in plane and points
        await pilot.press("t", "z")
        assert TEST_MARK not in shown_text(view) and len(plane_colors(view)) == len(smooth)


def plane_colors(view: BoundaryView) -> set:
    """The distinct colours of the boundary's half-block pixels."""
    console = Console(width=view.content_region.width, height=view.content_region.height,
                      color_system="truecolor")
    found = set()
    for segment in view.picture.__rich_console__(console, console.options.update_height(
            view.content_region.height)):
        if segment.text.startswith("▀"):
            found |= {segment.style.color.triplet, segment.style.bgcolor.triplet}
    return found


async def test_the_per_run_panes_name_the_selected_run_at_80x24(tmp_path):
    app = create(tmp_path, LESSON, stop_at=20)
    async with app.run_test(size=SMALL) as pilot:
        await wait_until(pilot, settled(app))
        await pilot.press("v")
        for key, pane in (("2", "#boundary"), ("3", "#gradients"), ("4", "#weights")):
            await pilot.press(key)
            await wait_until(pilot, lambda: app.up_to_date)
            assert app.query_one(pane).border_subtitle.startswith("sgd"), pane


async def test_one_run_is_not_named(tmp_path):
    app = create(tmp_path, LESSON.split("[[variant]]")[0], stop_at=20)     # no variants, events, expectations
    async with app.run_test(size=SMALL) as pilot:
        await wait_until(pilot, settled(app))
        for key, pane in (("2", "#boundary"), ("3", "#gradients"), ("4", "#weights")):
            await pilot.press(key)
            await wait_until(pilot, lambda: app.up_to_date)
            assert app.query_one(pane).border_subtitle in ("", "h1 (1 of 3 layers) · [ ]"), pane


def create(tmp_path, text: str, stop_at: int):
    return create_app(scenario_file(tmp_path, text), stop_at=stop_at, show_speed=False)


def test_value_ticks_get_the_digits_that_tell_them_apart():
    """A loss that has barely moved (0.6962 to 0.6971) still reads as a scale, not 0.697 five
    times; round values keep their short labels."""
    close = tick_labels(np.linspace(0.6962, 0.6971, 5), 3)
    assert len(set(close)) == 5 and all(len(label) <= 7 for label in close)
    assert tick_labels(np.array([0.0, 0.5, 1.0]), 3) == ["0", "0.5", "1"]


def test_the_lesson_pane_reads_a_checks_line_in_words():
    from nnsim.tui.panes.lesson import plain_words

    assert (plain_words("base has not reached val_acc 0.9 yet (needed within 2500 steps)")
            == "the network has not reached validation accuracy 0.9 yet (needed within 2500 steps)")
    assert plain_words("adam final train_loss 0.1 vs sgd 0.2") == "adam final training loss 0.1 vs sgd 0.2"
    assert plain_words("val_loss_ratio stays") == "val_loss_ratio stays"      # whole names only


def test_past_runs_are_cut_to_the_steps_the_live_run_has_reached():
    """A run restarted after a change fills the loss plot: the faded run it replaced, which went
    on for 1,000 steps (and to a loss of 5), neither widens nor heightens the axes."""
    from nnsim.tui.panes.loss import follow_live

    steps = np.arange(0.0, 1001.0, 10.0)
    past = [(steps, np.linspace(5.0, 0.1, steps.size), "grey", False, False)]
    live = [(np.arange(0.0, 51.0, 10.0), np.array([0.7, 0.6, 0.5, 0.45, 0.4, 0.38]), "blue", False, False)]
    cut, kept = follow_live(live, past)
    assert kept == live and float(cut[0][0][-1]) == 50.0 and len(cut[0][1]) == 6
    assert follow_live([], past) == (past, [])        # nothing live yet: the past sets the axes
    assert follow_live(live, [(steps[60:], steps[60:], "grey", False, False)]) == ([], live)


MANY_RUNS = """
title = "Five rates"
lesson = "The same net at five rates."

[data]
n_points = 80

[model]
layers = [4]

[train]
optimizer = "sgd"
steps = 20
eval_every = 5
""" + "".join(f'\n[[variant]]\nname = "lr-{i}"\ntrain.lr = {0.05 * (i + 1)}\n' for i in range(5))


async def test_with_many_runs_the_loss_pane_names_the_selected_one_and_greys_the_rest(tmp_path):
    app = create(tmp_path, MANY_RUNS, stop_at=20)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, settled(app))
        legend = lambda: str(app.query_one("#loss-legend").render())
        assert legend().startswith("lr-0 ") and "and 4 more runs, in grey" in legend()
        plt, drawn = app.query_one("#loss-plot", Plot).plt, []
        for method in ("plot", "scatter"):
            original = getattr(plt, method)
            setattr(plt, method, lambda *args, _draw=original, **kw: (drawn.append(kw["color"]),
                                                                    _draw(*args, **kw)))
        await pilot.press("v")
        await wait_until(pilot, lambda: legend().startswith("lr-1 ") and len(drawn) >= 10,
                         "v to bring lr-1 forward")
        grey = colors.dim(colors.INITIAL, 0.5)
        own = {colors.variant_color(1), colors.dim(colors.variant_color(1))}
        last = drawn[-10:]             # the draw that named lr-1 (one before v may be recorded)
        assert set(last[:8]) == {grey, colors.dim(grey)}        # val and train of the other four
        assert set(last[8:]) == own                              # the selected run's, on top


GROUPED_RUNS = """
title = "Two optimizers, three sets"
lesson = "SGD and Adam on three data sets each."

[data]
n_points = 80

[model]
layers = [4]

[train]
steps = 20
eval_every = 5
""" + "".join(f'\n[[variant]]\nname = "{opt}-{kind}"\ndata.kind = "{kind}"\ntrain.optimizer = "{opt}"\n'
              f'train.lr = {lr}\n'
              for opt, lr in (("sgd", 0.1), ("adam", 0.01)) for kind in ("circle", "xor", "moons"))


async def test_with_groups_of_runs_the_loss_pane_draws_each_groups_median_and_the_selected_run_on_top(tmp_path):
    """optimizer-race's thirty runs in one grey: now a median line per optimizer setting, each
    run faint in its group's colour, the selected run (v) in white on top."""
    from nnsim.tui.panes.loss import GROUP_MEMBER_FADE

    app = create(tmp_path, GROUPED_RUNS, stop_at=20)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, settled(app))
        legend = lambda: str(app.query_one("#loss-legend").render())
        assert "sgd lr 0.1  3 runs: val median" in legend()
        assert "adam lr 0.01  3 runs: val median" in legend()
        sgd = [snap.val_loss for snap in app.frame.snapshots[:3]]
        assert f"median {np.median(sgd):.3g} ({min(sgd):.3g} to {max(sgd):.3g})" in legend()
        plt, drawn = app.query_one("#loss-plot", Plot).plt, []
        for method in ("plot", "scatter"):
            original = getattr(plt, method)
            setattr(plt, method, lambda *args, _draw=original, **kw: (drawn.append((kw["color"], args)),
                                                                    _draw(*args, **kw)))
        await pilot.press("v", "v", "v", "v")      # adam-xor, a run of the second group
        await wait_until(pilot, lambda: legend().startswith("adam-xor ") and len(drawn) >= 9,
                         "v to bring adam-xor forward")
        last = drawn[-9:]               # the draw that named adam-xor
        faint = [colors.dim(colors.variant_color(g), GROUP_MEMBER_FADE) for g in (0, 1)]
        assert [color for color, _ in last[:5]] == [faint[0]] * 3 + [faint[1]] * 2
        assert [color for color, _ in last[5:7]] == [colors.variant_color(0), colors.variant_color(1)]
        assert [color for color, _ in last[7:]] == [colors.dim(colors.NEUTRAL), colors.NEUTRAL]
        medians = [np.median([np.asarray(s.history.val_loss)[-1] for s in app.frame.snapshots[g:g + 3]])
                   for g in (0, 3)]
        for (_, (xs, ys)), median in zip(last[5:7], medians):
            assert xs[-1] == 20 and ys[-1] == pytest.approx(median)
