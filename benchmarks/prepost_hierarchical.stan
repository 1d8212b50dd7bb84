// prepost_hierarchical, normal likelihood: the Stan twin of
// src/milkbayes/models/prepost_hierarchical.py, for benchmarks/bench_samplers.py only.
//
// Same parameterisation as the PyMC model: non-centred mother intercepts
// (mother_z ~ N(0, 1), scaled by mother_sd), a time effect per mother with
// sample-centred coding (bars = averages over the fitted mothers, weight 1)
//   tau_i = effect + gamma_w (x_w[i] - xbar_w) + gamma_p (x_p[i] - xbar_p)
//           + sum_g (u_g[k_g(i)] - ubar_g),   u_g = sd_g * z_g  (non-centred pooling),
// the same priors (the prior hyperparameters arrive as data, already in outcome
// units, computed by the Python model's own _scale_priors) and the same likelihood
// y_j ~ N(eta_j, sigma). The PyMC model multiplies each mother's log-likelihood by
// her weight through a potential (w - 1) log p(y); the benchmark fits with every
// weight = 1, where that term is exactly zero, so only the centring uses the weights.
data {
  int<lower=1> N;                          // observations (2 per mother)
  int<lower=1> M;                          // mothers
  vector[N] y;
  array[N] int<lower=1, upper=M> mother_idx;
  vector[N] time;
  vector<lower=0, upper=1>[M] mother_weight;
  vector[M] x_work_duration;               // 0/1 indicators (long; multipara)
  vector[M] x_parity;
  int<lower=2> K_occupation;
  int<lower=2> K_education;
  int<lower=2> K_age_group;
  array[M] int<lower=1, upper=K_occupation> idx_occupation;
  array[M] int<lower=1, upper=K_education> idx_education;
  array[M] int<lower=1, upper=K_age_group> idx_age_group;
  // prior hyperparameters (outcome units)
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
  real total_weight = sum(mother_weight);
  vector[M] xc_work_duration = x_work_duration
                               - dot_product(mother_weight, x_work_duration) / total_weight;
  vector[M] xc_parity = x_parity - dot_product(mother_weight, x_parity) / total_weight;
}
parameters {
  real<lower=0> mother_sd;
  vector[M] mother_z;
  real effect;
  real modifier_work_duration;
  real modifier_parity;
  real<lower=0> sd_occupation;
  vector[K_occupation] z_occupation;
  real<lower=0> sd_education;
  vector[K_education] z_education;
  real<lower=0> sd_age_group;
  vector[K_age_group] z_age_group;
  real intercept;
  real<lower=0> sigma;
}
model {
  vector[M] u_occupation = sd_occupation * z_occupation[idx_occupation];
  vector[M] u_education = sd_education * z_education[idx_education];
  vector[M] u_age_group = sd_age_group * z_age_group[idx_age_group];
  vector[M] tau = effect + modifier_work_duration * xc_work_duration
                  + modifier_parity * xc_parity
                  + u_occupation - dot_product(mother_weight, u_occupation) / total_weight
                  + u_education - dot_product(mother_weight, u_education) / total_weight
                  + u_age_group - dot_product(mother_weight, u_age_group) / total_weight;
  vector[N] eta = intercept + mother_sd * mother_z[mother_idx] + time .* tau[mother_idx];

  mother_sd ~ normal(0, mother_sd_sigma);          // half-normal (lower bound 0)
  mother_z ~ std_normal();
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
  y ~ normal(eta, sigma);
}
