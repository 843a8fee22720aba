"""Fits the rational tanh of src/models/dense_wasm.ts: tanh(x) ~ x P(x^2) / Q(x^2) on [0, clamp], minimax in
relative error, by Lawson's iteratively reweighted least squares (Sanathanan-Koerner linearisation).

    python/.venv/bin/python scripts/fit_tanh.py [--p-degree 5] [--q-degree 4] [--clamp 10]

Prints the coefficients (P from x^0 up, Q from x^2 up with Q's constant term 1) and the largest relative
error against numpy's tanh in float64 on a fine grid of [-clamp, clamp].
"""

import argparse

import numpy as np


def fit(p_degree: int, q_degree: int, clamp: float, iterations: int = 200):
    x = np.concatenate(
        [np.linspace(0, clamp, 20001)[1:], clamp * (1 - np.cos(np.linspace(0, np.pi / 2, 20001)))[1:]]
    )
    scale = clamp * clamp
    t = x * x / scale  # x^2 scaled to [0, 1], for a well-conditioned system
    f = np.tanh(x) / x
    q = np.ones_like(t)
    weights = np.ones_like(t)
    for _ in range(iterations):
        # P(t) - f Q(t) = 0 is linear in the coefficients; dividing by f * Q_previous makes it relative.
        system = np.hstack(
            [
                np.vander(t, p_degree + 1, increasing=True),
                -f[:, None] * np.vander(t, q_degree + 1, increasing=True)[:, 1:],
            ]
        )
        row_scale = np.sqrt(weights) / (f * q)
        coefficients, *_ = np.linalg.lstsq(system * row_scale[:, None], f * row_scale, rcond=None)
        p = coefficients[: p_degree + 1]
        q_coefficients = np.concatenate([[1.0], coefficients[p_degree + 1 :]])
        q = np.polyval(q_coefficients[::-1], t)
        error = np.abs(np.polyval(p[::-1], t) / q - f) / f
        weights = weights * error  # Lawson: weight the points where the error is largest
        weights /= weights.sum()
    # Back to powers of x^2.
    return p / scale ** np.arange(p_degree + 1), q_coefficients / scale ** np.arange(q_degree + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--p-degree", type=int, default=5)
    parser.add_argument("--q-degree", type=int, default=4)
    parser.add_argument("--clamp", type=float, default=10.0)
    args = parser.parse_args()
    p, q = fit(args.p_degree, args.q_degree, args.clamp)
    x = np.linspace(-args.clamp, args.clamp, 2_000_001)
    x = x[x != 0]
    approx = x * np.polyval(p[::-1], x * x) / np.polyval(q[::-1], x * x)
    print("P:", ", ".join(repr(float(c)) for c in p))
    print("Q:", ", ".join(repr(float(c)) for c in q[1:]))
    error = np.max(np.abs(approx / np.tanh(x) - 1))
    print(f"max relative error {error:.2e}; 1 - tanh(clamp) = {1 - np.tanh(args.clamp):.2e}")


if __name__ == "__main__":
    main()
