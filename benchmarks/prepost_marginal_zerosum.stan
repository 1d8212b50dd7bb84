// prepost_hierarchical, normal likelihood, with the mother intercepts integrated out:
// the Stan twin of the marginal parameterisation in benchmarks/bench_marginal.py,
// with zero-sum standardised subgroup deviations (bench_marginal.marginal_model, zero_sum).
// sum_to_zero_vector uses an isometric transform (Stan >= 2.36), so z ~ std_normal()
// makes its K - 1 free coordinates independent standard normals: z is the projection
// of K independent standard normals onto the zero-sum plane, as PyMC's ZeroSumNormal.
// The likelihood sees z only through deviations centred over the mothers, which the
// projection leaves unchanged: the same statistical model as prepost_marginal.stan.
//
// The flagship (benchmarks/prepost_hierarchical.stan) has, for mother i,
//   pre_i = a + s_a z_i + e_1,  post_i = a + s_a z_i + tau_i + e_2,
// z_i ~ N(0, 1), e ~ N(0, sigma). Integrating z_i out, (pre_i, post_i) is bivariate
// normal with equal variances s_a^2 + sigma^2 and covariance s_a^2, so the difference
// D_i = post_i - pre_i and the sum S_i = pre_i + post_i are independent:
//   D_i ~ N(tau_i, sqrt(2) sigma),  S_i ~ N(2 a + tau_i, sqrt(4 s_a^2 + 2 sigma^2))
// (the change of variables has a constant Jacobian, 2). The same statistical model,
// the same priors, 24 fewer parameters. Every mother has weight 1 (as in the
// flagship's benchmark), so the centring uses plain averages of the mothers.
data {
  int<lower=1> M;                          // mothers
  vector[M] pre;
  vector[M] post;
  vector[M] x_work_duration;               // 0/1 indicators (long; multipara)
  vector[M] x_parity;
  int<lower=2> K_occupation;
  int<lower=2> K_education;
  int<lower=2> K_age_group;
  array[M] int<lower=1, upper=K_occupation> idx_occupation;
  array[M] int<lower=1, upper=K_education> idx_education;
  array[M] int<lower=1, upper=K_age_group> idx_age_group;
  real intercept_mu;
  real<lower=0> intercept_sigma;
  real<lower=0> mother_sd_sigma;
  real effect_mu;
  real<lower=0> effect_sigma;
  real<lower=0> modifier_sigma;
  real<lower=0> subgroup_sd_sigma;
  real<lower=0> sigma_sigma;
}
transformed data {
  vector[M] d = post - pre;
  vector[M] s = pre + post;
  vector[M] xc_work_duration = x_work_duration - mean(x_work_duration);
  vector[M] xc_parity = x_parity - mean(x_parity);
}
parameters {
  real<lower=0> mother_sd;
  real effect;
  real modifier_work_duration;
  real modifier_parity;
  real<lower=0> sd_occupation;
  sum_to_zero_vector[K_occupation] z_occupation;
  real<lower=0> sd_education;
  sum_to_zero_vector[K_education] z_education;
  real<lower=0> sd_age_group;
  sum_to_zero_vector[K_age_group] z_age_group;
  real intercept;
  real<lower=0> sigma;
}
model {
  vector[M] u_occupation = sd_occupation * z_occupation[idx_occupation];
  vector[M] u_education = sd_education * z_education[idx_education];
  vector[M] u_age_group = sd_age_group * z_age_group[idx_age_group];
  vector[M] tau = effect + modifier_work_duration * xc_work_duration
                  + modifier_parity * xc_parity
                  + u_occupation - mean(u_occupation)
                  + u_education - mean(u_education)
                  + u_age_group - mean(u_age_group);

  mother_sd ~ normal(0, mother_sd_sigma);
  effect ~ normal(effect_mu, effect_sigma);
  modifier_work_duration ~ normal(0, modifier_sigma);
  modifier_parity ~ normal(0, modifier_sigma);
  sd_occupation ~ normal(0, subgroup_sd_sigma);
  z_occupation ~ std_normal();
  sd_education ~ normal(0, subgroup_sd_sigma);
  z_education ~ std_normal();
  sd_age_group ~ normal(0, subgroup_sd_sigma);
  z_age_group ~ std_normal();
  intercept ~ normal(intercept_mu, intercept_sigma);
  sigma ~ normal(0, sigma_sigma);
  d ~ normal(tau, sqrt(2) * sigma);
  s ~ normal(2 * intercept + tau, sqrt(4 * square(mother_sd) + 2 * square(sigma)));
}
