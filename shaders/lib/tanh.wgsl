// tanh and its derivative 1 - tanh^2 = sech^2 from e = exp(-2|v|), pasted in by the build's
// include (reduce.wgsl, train_elementwise.wgsl). exp of a non-positive argument never overflows
// (WGSL leaves an overflowing exp indeterminate), and sech^2 = 4e / (1 + e)^2 has no cancellation
// where tanh is near +-1 (1 - t*t would lose every digit there). Accuracy follows WGSL's exp
// (3 + 2|arg| ULP, relative): a few ULP for |v| < 4, more for large |v| where the values are tiny.
// tanh below |v| = 0.625 is its Taylor series instead: (1 - e) / (1 + e) cancels as e -> 1 (latent
// weights are small: their max |tanh| is DoReFa's scale). NaN propagates.

fn exp_neg2abs(v: f32) -> f32 {
  return exp(-2.0 * abs(v));
}

fn tanh_exp(v: f32) -> f32 {
  if (abs(v) < 0.625) {
    // Taylor coefficients 2^2n (2^2n - 1) B_2n / (2n)!, through x^25: the rest is below 2^-34
    // relative at |v| = 0.625. Past it, (1 - e) / (1 + e) loses at most e / (1 - e) < 0.4 of exp's error.
    let s = v * v;
    var p = 58870668456604.0 / 3698160658676859375.0;
    p = p * s - 113927491862.0 / 2900518163668125.0;
    p = p * s + 18888466084.0 / 194896477400625.0;
    p = p * s - 443861162.0 / 1856156927625.0;
    p = p * s + 6404582.0 / 10854718875.0;
    p = p * s - 929569.0 / 638512875.0;
    p = p * s + 21844.0 / 6081075.0;
    p = p * s - 1382.0 / 155925.0;
    p = p * s + 62.0 / 2835.0;
    p = p * s - 17.0 / 315.0;
    p = p * s + 2.0 / 15.0;
    p = p * s - 1.0 / 3.0;
    return v + v * (s * p);
  }
  let e = exp_neg2abs(v);
  return sign(v) * ((1.0 - e) / (1.0 + e));
}

fn sech2_exp(v: f32) -> f32 {
  let e = exp_neg2abs(v);
  let d = 1.0 + e;
  return (4.0 * e) / (d * d);
}
