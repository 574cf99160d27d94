"""simulate: analytic 2-D solution, reciprocity, absorbing boundary, gradients, errors, free surface.

Grids are small (a few thousand cells, a few hundred steps) so the file runs in well under a minute.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from keras_fwi.physics import Survey, simulate


def _survey(n=40, nt=200, source=(20, 20), receivers=((20, 23),), boundary=20, **changes):
    fields = dict(nz=n, nx=n, dx=10.0, nt=nt, dt=1e-3, frequency=15.0, source_z=[source[0]], source_x=[source[1]],
                  receiver_z=[r[0] for r in receivers], receiver_x=[r[1] for r in receivers], boundary=boundary)
    fields.update(changes)
    return Survey(**fields)


def _analytic(survey: Survey, velocity: float, offsets_m: np.ndarray) -> np.ndarray:
    """2-D Green's function convolved with the Ricker, for the scheme's source scaling.

    The scheme solves p_tt - v^2 lap p = v^2 dx^2 w(t) delta(x), whose solution is
    p(r, t) = dx^2 / (2 pi) * integral_0^inf w(t - (r / v) cosh u) du; sample n records t = (n + 1) dt.
    """
    half = math.floor(1.1 / (survey.frequency * survey.dt))
    t = (np.arange(survey.nt) + 1) * survey.dt
    u = np.linspace(0.0, 8.0, 40001)
    out = np.zeros((len(offsets_m), survey.nt))
    for i, r in enumerate(offsets_m):
        lag = t[:, None] - (r / velocity) * np.cosh(u)[None, :] - half * survey.dt
        arg = (math.pi * survey.frequency * lag) ** 2
        w = np.where(lag > -half * survey.dt, (1 - 2 * arg) * np.exp(-arg), 0.0)
        out[i] = survey.dx ** 2 / (2 * math.pi) * np.trapezoid(w, u, axis=1)
    return out


def test_homogeneous_medium_matches_analytic_greens_function():
    velocity = 2000.0
    offsets = np.arange(3, 9)  # near offsets, 30-80 m, along x
    survey = _survey(receivers=[(20, 20 + k) for k in offsets])
    seismic = simulate(np.full((1, 40, 40), velocity), survey).numpy()[0, 0].T  # (receivers, nt)
    expected = _analytic(survey, velocity, offsets * survey.dx)
    # Up to 170 ms: the direct wave has passed, echoes from the boundary's outer edge come later.
    window = slice(0, 170)
    for got, want in zip(seismic, expected):
        got, want = got[window], want[window]
        correlation = np.dot(got, want) / np.sqrt(np.dot(got, got) * np.dot(want, want))
        assert correlation >= 0.99
        assert np.max(np.abs(got)) == pytest.approx(np.max(np.abs(want)), rel=0.05)


def test_reciprocity_swapping_source_and_receiver():
    rng = np.random.default_rng(3)
    velocity = 2500.0 + 400.0 * rng.standard_normal((1, 30, 30))
    a, b = (4, 6), (17, 24)
    forward = simulate(velocity, _survey(30, 250, source=a, receivers=[b], boundary=10)).numpy()[0, 0, :, 0]
    backward = simulate(velocity, _survey(30, 250, source=b, receivers=[a], boundary=10)).numpy()[0, 0, :, 0]
    assert np.max(np.abs(forward)) > 1e-3
    np.testing.assert_allclose(forward, backward, atol=1e-4 * np.max(np.abs(forward)))


@pytest.mark.parametrize("absorbing, boundary, limit", [("damping", 20, 0.02), ("cpml", 12, 1e-4)])
def test_absorbing_boundary_reflects_little_energy(absorbing, boundary, limit):
    """Against a grid so large that nothing comes back in time, the layer returns little energy at
    receivers 6 cells from the model's edge: < 2 % for 20 damping cells, < 0.01 % for a 12-cell CPML."""
    nt, velocity = 300, 2500.0
    small = _survey(30, nt, source=(15, 15), receivers=[(15, 15 + k) for k in (-9, 0, 9)], boundary=boundary,
                    absorbing=absorbing)
    pad = 60
    big = _survey(30 + 2 * pad, nt, source=(15 + pad, 15 + pad),
                  receivers=[(15 + pad, 15 + pad + k) for k in (-9, 0, 9)], boundary=20)
    near = simulate(np.full((1, 30, 30), velocity), small).numpy()[0, 0]
    far = simulate(np.full((1, 150, 150), velocity), big).numpy()[0, 0]
    reflected = near - far
    ratio = np.sum(reflected ** 2) / np.sum(far ** 2)
    assert ratio < limit
    assert np.sum(far ** 2) > 0


@pytest.mark.parametrize("absorbing, free_surface", [("cpml", False), ("damping", False), ("cpml", True)])
def test_gradient_matches_finite_differences(absorbing, free_surface):
    rng = np.random.default_rng(0)
    velocity = 2200.0 + 300.0 * rng.random((1, 16, 16))
    velocity[0, 0, 0] = 1800.0  # a clear minimum, so the damping's v_min stays put under perturbation
    survey = _survey(16, 150, source=(1, 8), receivers=[(1, k) for k in range(16)], boundary=8,
                     absorbing=absorbing, free_surface=free_surface)
    weights = tf.constant(rng.standard_normal((1, 1, 150, 16)), tf.float32)
    direction = rng.standard_normal((1, 16, 16))
    direction[0, 0, 0] = 0.0

    def loss(v):
        return tf.reduce_sum(simulate(v, survey, parallel=1) * weights)

    v = tf.Variable(velocity, dtype=tf.float32)
    with tf.GradientTape() as tape:
        value = loss(v)
    gradient = tape.gradient(value, v).numpy()
    step = 2.0  # m/s
    numeric = (loss(velocity + step * direction) - loss(velocity - step * direction)).numpy() / (2 * step)
    analytic = float(np.sum(gradient * direction))
    assert analytic == pytest.approx(numeric, rel=0.02)
    assert abs(analytic) > 0


@pytest.mark.parametrize("absorbing", ["cpml", "damping"])
def test_kept_wavefields_give_the_same_data_and_gradient(absorbing):
    """keep_wavefields only moves where the forward pass stores its fields: bit for bit the same."""
    rng = np.random.default_rng(4)
    velocity = tf.constant(2200.0 + 300.0 * rng.random((2, 16, 16)), tf.float32)
    survey = _survey(16, 120, source=(1, 8), receivers=[(1, k) for k in range(16)], boundary=8, absorbing=absorbing)
    weights = tf.constant(rng.standard_normal((1, 1, 120, 16)), tf.float32)
    out = []
    for keep in (False, True):
        with tf.GradientTape() as tape:
            tape.watch(velocity)
            data = simulate(velocity, survey, parallel=1, keep_wavefields=keep)
            value = tf.reduce_sum(data * weights)
        out.append((data.numpy(), tape.gradient(value, velocity).numpy()))
    np.testing.assert_array_equal(out[1][0], out[0][0])
    np.testing.assert_array_equal(out[1][1], out[0][1])
    assert np.abs(out[0][1]).max() > 0


def test_parallel_split_matches_single_program_and_differentiates():
    velocity = np.stack([np.full((16, 16), 2000.0), np.full((16, 16), 3000.0), np.full((16, 16), 2500.0)])
    survey = _survey(16, 80, source=(1, 8), receivers=[(1, k) for k in range(16)], boundary=6,
                     source_z=[1, 1, 1], source_x=[0, 8, 15])
    single = simulate(velocity, survey, parallel=1).numpy()
    # Separate XLA programs may fuse differently, so only float32 rounding may differ.
    tolerance = 1e-5 * np.max(np.abs(single))
    np.testing.assert_allclose(simulate(velocity, survey, parallel=2).numpy(), single, rtol=0, atol=tolerance)
    np.testing.assert_allclose(simulate(velocity[:1], survey, parallel=2).numpy(), single[:1], atol=tolerance)
    v = tf.Variable(velocity[:1], dtype=tf.float32)
    grads = []
    for parallel in (1, 2):
        with tf.GradientTape() as tape:
            value = tf.reduce_sum(simulate(v, survey, parallel=parallel) ** 2)
        grads.append(tape.gradient(value, v).numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-4, atol=1e-6 * np.max(np.abs(grads[0])))


def test_split_run_first_then_single_program():
    """The split graph may be traced before the single program exists; both must keep working."""
    survey = _survey(14, 30, source=(1, 7), receivers=[(1, 3), (1, 9)], boundary=4, source_z=[1, 1],
                     source_x=[2, 11])
    velocity = np.full((1, 14, 14), 2100.0)
    split = simulate(velocity, survey, parallel=2).numpy()
    np.testing.assert_allclose(simulate(velocity, survey, parallel=1).numpy(), split,
                               atol=1e-5 * np.max(np.abs(split)))


def test_openfwi_model_layout_is_accepted():
    survey = _survey(16, 20, source=(1, 8), receivers=[(1, 3)], boundary=4)
    velocity = np.full((2, 1, 16, 16), 2000.0, np.float32)
    assert simulate(velocity, survey).shape == (2, 1, 20, 1)


@pytest.mark.parametrize("velocity, message", [
    (np.full((1, 16, 15), 2000.0), r"velocity must have shape \(batch, 16, 16\)"),
    (np.full((16, 16), 2000.0), r"velocity must have shape \(batch, 16, 16\)"),
    (np.full((1, 16, 16), -1.0), "velocity must be finite and positive"),
    (np.full((1, 16, 16), np.nan), "velocity must be finite and positive"),
    (np.full((1, 16, 16), 7000.0), r"unstable time step \(CFL\): max velocity 7000 m/s .* use dt <= "),
])
def test_bad_velocity_is_one_clear_error(velocity, message):
    survey = _survey(16, 20, source=(1, 8), receivers=[(1, 3)], boundary=4)
    with pytest.raises(ValueError, match=message):
        simulate(velocity, survey)


@pytest.mark.parametrize("absorbing", ["cpml", "damping"])
def test_free_surface_equals_the_method_of_images(absorbing):
    """A free surface at the top row acts as a mirror with opposite polarity: the same as a negative
    image source above a surface that is not there."""
    velocity, receivers = 2000.0, [(8, k) for k in range(10, 21)]
    free = _survey(30, 250, source=(5, 15), receivers=receivers, boundary=10, free_surface=True,
                   absorbing=absorbing)
    surface = simulate(np.full((1, 30, 30), velocity), free).numpy()[0, 0]
    assert np.all(simulate(np.full((1, 30, 30), velocity), free.replace(receiver_z=0)).numpy() == 0)
    # Twice as deep, the surface at row 30: the real source 5 cells below it and the image 5 above.
    images = _survey(60, 250, source=(35, 15), receivers=[(38, k) for k in range(10, 21)], boundary=10, nx=30,
                     source_z=[35, 25], source_x=[15, 15], absorbing=absorbing)
    direct, image = simulate(np.full((1, 60, 30), velocity), images).numpy()[0]
    expected = direct - image
    window = slice(0, 200)  # before echoes from the bottom boundary, 22 cells below the receivers
    np.testing.assert_allclose(surface[window], expected[window], atol=0.01 * np.max(np.abs(expected)))
    assert np.max(np.abs(image[window])) > 0.3 * np.max(np.abs(direct[window]))  # the ghost matters


@pytest.mark.parametrize("n, boundary, free_surface", [(16, 8, False), (16, 8, True), (3, 3, False)])
def test_cpml_adjoint_is_the_exact_transpose(n, boundary, free_surface):
    """The records are linear in the source amplitudes: <A s, d> must equal <s, A^T d> to rounding,
    which checks every transposed operator of the kernel (the 3 x 3 model's absorbing strips overlap)."""
    from keras_fwi.physics.cpml import cpml_profiles, make_cpml_propagator

    survey = _survey(n, 120, source=(1, n // 2), receivers=[(1, k) for k in range(n)], boundary=boundary,
                     source_z=[1, 1], source_x=[0, n - 1], free_surface=free_surface)
    width = n + 2 * boundary

    def cells(z, x):  # flat indices on the extended grid
        return (np.add(z, boundary) * width + np.add(x, boundary)).astype(np.int32)

    propagate = make_cpml_propagator(survey.wavelet(), cells(survey.source_z, survey.source_x),
                                     cells(survey.receiver_z, survey.receiver_x), (width, width),
                                     boundary if free_surface else None, cpml_profiles(survey))
    rng = np.random.default_rng(5)
    alpha = tf.constant((0.2 + 0.05 * rng.random((1, 1, width, width))) ** 2, tf.float32)
    amplitude = tf.constant(rng.standard_normal((1, 2)), tf.float32)
    probe = tf.constant(rng.standard_normal((1, 2, 120, n)), tf.float32)

    @tf.function(autograph=False)  # as simulate calls it: inside a graph
    def products(amplitude):
        with tf.GradientTape() as tape:
            tape.watch(amplitude)
            forward = tf.reduce_sum(propagate(alpha, amplitude) * probe)
        return forward, tf.reduce_sum(tape.gradient(forward, amplitude) * amplitude)

    forward, backward = products(amplitude)
    assert float(backward) == pytest.approx(float(forward), rel=1e-4)
    assert abs(float(forward)) > 0
