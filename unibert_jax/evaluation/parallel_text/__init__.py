"""Offline cross-lingual evaluation sets built from real, shipped translations.

R1 (UI sentences: Firefox ESR langpacks + LibreOffice UI), R1e (CLDR emoji names for the
languages R1 lacks), R2 (help paragraphs: LibreOffice help + GNOME help) and T1 (LibreOffice help
paragraphs with the typed spans UI/KEY/CODE/PRODUCT that translators kept), as measured in
research/offline_eval.md. The packages are downloaded at run time (apt-get, npm) into a cache;
nothing from them is committed (MPL-2.0, CC-BY-SA-3.0, Unicode-3.0 data).

  from unibert_jax.evaluation import parallel_text
  manifest = parallel_text.build()                 # once; ~/.cache/unibert_jax/parallel_text
  r1 = parallel_text.load(None, 'R1')              # list[Item(key, language, english, target)]
  r1_1k = parallel_text.r1_1k(r1)                  # 1,000 pairs per language, by sha1 of key
  t1 = parallel_text.load_typed_spans(None, 'T1')  # list[TypedSpanItem] (texts + spans)
"""

from unibert_jax.evaluation.parallel_text.builder import ALL_SETS
from unibert_jax.evaluation.parallel_text.builder import build
from unibert_jax.evaluation.parallel_text.builder import load
from unibert_jax.evaluation.parallel_text.builder import load_typed_spans
from unibert_jax.evaluation.parallel_text.builder import set_names
from unibert_jax.evaluation.parallel_text.builder import SETS
from unibert_jax.evaluation.parallel_text.builder import TYPED_SPAN_SETS
from unibert_jax.evaluation.parallel_text.items import Item
from unibert_jax.evaluation.parallel_text.typed_spans import TypedSpanItem
from unibert_jax.evaluation.parallel_text.sets import r1_1k
