"""A linear language-ID probe on frozen features: how much language identity a representation
still carries, measured by a classifier trained afresh (unlike the adversary's own discriminator,
which the encoder can fool by relabelling the languages).

Used by the evaluation suite and by the training loop's held-out probe at eval steps.
"""

import warnings

import numpy as np


def probe_accuracy(features: np.ndarray, language_ids: np.ndarray,
                            train_mask: np.ndarray, *, inverse_regularization: float = 1.0,
                            max_iter: int = 2000) -> dict:
  """Accuracy of a linear language-ID probe on frozen features, beside chance.

  Multinomial logistic regression (lbfgs) on standardized features, fitted on the rows of
  train_mask and scored on the others. The regularization is fixed, not tuned: tuning would
  need a third split of a few held-out articles. Split by article (see `article_split`).

  Returns:
    language_probe_accuracy: test accuracy;
    language_probe_chance: accuracy of the best constant guess on the test rows (the majority
      class frequency; 1 / number of languages when balanced);
    language_probe_uniform_chance: 1 / number of languages in the test rows;
    language_probe_entropy: the probe's mean predictive entropy on the test rows (nats);
    language_probe_train_size / language_probe_test_size.
  """
  from sklearn.exceptions import ConvergenceWarning
  from sklearn.linear_model import LogisticRegression
  from sklearn.pipeline import make_pipeline
  from sklearn.preprocessing import StandardScaler

  features = np.asarray(features, np.float64)
  language_ids = np.asarray(language_ids)
  train_mask = np.asarray(train_mask, bool)
  if not (len(features) == len(language_ids) == len(train_mask)):
    raise ValueError(f'probe_accuracy got {len(features)} feature rows, '
                     f'{len(language_ids)} language ids and {len(train_mask)} mask entries; '
                     'they must match.')
  test_mask = ~train_mask
  if not train_mask.any() or not test_mask.any():
    raise ValueError('probe_accuracy needs rows on both sides of train_mask.')
  train_languages = np.unique(language_ids[train_mask])
  test_languages, test_counts = np.unique(language_ids[test_mask], return_counts=True)
  if len(train_languages) < 2:
    raise ValueError('The language probe needs at least two languages among its training rows.')

  probe = make_pipeline(
      StandardScaler(),
      LogisticRegression(C=inverse_regularization, max_iter=max_iter))
  with warnings.catch_warnings():
    # Separable features (a language-aware encoder) make lbfgs run long; the accuracy is
    # what matters, not the last digits of the weights.
    warnings.simplefilter('ignore', ConvergenceWarning)
    probe.fit(features[train_mask], language_ids[train_mask])
  probabilities = probe.predict_proba(features[test_mask])
  predictions = probe.classes_[probabilities.argmax(-1)]
  entropy = -(probabilities * np.log(np.maximum(probabilities, 1e-12))).sum(-1)
  return {
      'language_probe_accuracy': float(np.mean(predictions == language_ids[test_mask])),
      'language_probe_entropy': float(entropy.mean()),
      'language_probe_chance': float(test_counts.max() / test_counts.sum()),
      'language_probe_uniform_chance': 1.0 / len(test_languages),
      'language_probe_train_size': int(train_mask.sum()),
      'language_probe_test_size': int(test_mask.sum()),
  }
