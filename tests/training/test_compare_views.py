"""The comparison page: one column per version, one row per figure, the best of each row marked."""
import re

from django.urls import reverse

from training import registry


def version(path, name, test_auc, eer, sources):
    metrics = {"test": {"all": {"roc_auc": test_auc, "eer": eer}, **{s: {"roc_auc": a} for s, a in sources.items()}}}
    return registry.register(name=name, artifact=path, input_size=32, is_trained=True, metrics=metrics)


def test_versions_are_columns_and_figures_are_rows_so_many_sources_do_not_widen_the_page(client, admin_user, tiny_model_path):
    sources = {f"source_with_a_long_name_{i}": 0.8 for i in range(8)}
    version(tiny_model_path, "v-one", 0.91, 0.12, sources)
    version(tiny_model_path, "v-two", 0.95, 0.09, sources)
    client.force_login(admin_user)
    page = client.get(reverse("training:compare")).content.decode()
    header = re.search(r"<thead>(.*?)</thead>", page, re.S).group(1)
    assert header.count("<th") == 3  # "Figure", then one per version, however many sources there are
    assert page.count('<th scope="row">AUC source_with_a_long_name_') == 8
    assert '<div class="table-scroll" tabindex="0" role="region" aria-label="Comparison of model versions">' in page


def test_the_best_value_of_each_row_is_bold_lower_being_better_for_the_error_rate(client, admin_user, tiny_model_path):
    version(tiny_model_path, "v-one", 0.91, 0.12, {})
    version(tiny_model_path, "v-two", 0.95, 0.09, {})
    client.force_login(admin_user)
    page = client.get(reverse("training:compare")).content.decode()
    auc = re.search(r'<th scope="row">Test AUC</th>(.*?)</tr>', page, re.S).group(1)
    eer = re.search(r'<th scope="row">Test EER</th>(.*?)</tr>', page, re.S).group(1)
    # Newest version first: v-two, then v-one.
    assert auc.strip() == '<td class="num"><strong>0.9500</strong></td><td class="num">0.9100</td>'
    assert eer.strip() == '<td class="num"><strong>0.0900</strong></td><td class="num">0.1200</td>'
