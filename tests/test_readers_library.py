"""Reference-library readers (BibTeX/BibLaTeX, RIS, CSL-JSON) on exports with each exporter's quirks, the LaTeX
decoder, the ijson-based JSON array reader, the record-size cap, and a 5,000-entry speed measurement."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from paperchat.ingest import bibtex, readers
from paperchat.ingest.latex import latex_to_text
from paperchat.ingest.readers import detect_format, read_papers
from paperchat.rag.errors import InputFormatError
from paperchat.rag.ids import title_id

LIB = Path(__file__).resolve().parent / "data" / "library"


def papers_of(name: str, **kw) -> dict[str, object]:
    """The papers of a sample file by citation key (or title when it has none)."""
    return {p.citation_key or p.title: p for p in read_papers(LIB / name, **kw)}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def skipped_of(path: Path) -> tuple[list, list[str]]:
    skipped: list[InputFormatError] = []
    papers = list(read_papers(path, skip_bad=True, skipped=skipped))
    return papers, [str(e) for e in skipped]


# ------------------------------------------------------------------------------------- LaTeX


@pytest.mark.parametrize(
    ("latex", "text"),
    [
        (r'{\"u}ber M{\"{o}}bius', "über Möbius"),
        (r"Smith \& Jones", "Smith & Jones"),
        ("pages 10--20 and---so", "pages 10\u201320 and\u2014so"),
        ("{BERT}: Pre-training {{Robinson}}", "BERT: Pre-training Robinson"),
        (r"$\alpha$-divergence", "\u03b1-divergence"),
        (r"$p$-adic Limit", "p-adic Limit"),
        (r"From dyadic $\Lambda_{\alpha}$ to $O(n^2)$", "From dyadic \u039b_\u03b1 to O(n^2)"),
        (r"improves 5% of runs with \emph{x}", "improves 5% of runs with x"),
        (r"{\bf two words} and $a + b$ end", "two words and a + b end"),
        (r"Schr\"odinger {\'E}cole \c{c} \ss{} {\L}ukasz", "Schrödinger École ç ß Łukasz"),
        (r"\textit{in vivo} \cite{x} \url{http://x.org/a_b}", "in vivo http://x.org/a_b"),
        (r"\LaTeX{} over $\Q(\sqrt{5})$", "LaTeX over \u211a(\u221a(5))"),
        ("costs $5 and more", "costs $5 and more"),
        (r"order \cal{O}(\alpha_s^2)$ in the $t$-channel", "order O(\u03b1_s^2) in the t-channel"),
        ("a~b ``quoted''", "a b \u201cquoted\u201d"),
        (r"unbalanced { brace and \"o", "unbalanced brace and ö"),
        (r"With {\textasciitilde}15M and 50\% fewer", "With ~15M and 50% fewer"),
        (r"\{{\textbackslash}bf SIGReg\} of \${\textbackslash}mathcal\{O\}(N)\$ cost, 79{\textbackslash}\%",
         "SIGReg of \U0001d4aa(N) cost, 79%"),
    ],
)
def test_latex_to_text(latex, text):
    assert latex_to_text(latex) == text


def test_latex_never_leaves_math_dollars_on_the_arxiv_sample():
    path = Path(__file__).resolve().parents[1].parent / "shared" / "samples" / "arxiv-snapshot-sample.jsonl"
    if not path.exists():
        pytest.skip(f"{path} is not available")
    papers = {p.id: p for p in read_papers(path)}
    assert not [p.id for p in papers.values() if "$" in p.title + p.abstract or "\\" in p.title + p.abstract]
    dyadic, padic = papers["0704.0005"], papers["0704.0013"]
    assert (dyadic.title, dyadic.arxiv_id, dyadic.venue) == (
        "From dyadic \u039b_\u03b1 to \u039b_\u03b1", "0704.0005", "Illinois J. Math. 52 (2008) no.2, 681-689")
    assert padic.title == "p-adic Limit of Weakly Holomorphic Modular Forms of Half Integral Weight"
    assert papers["0704.0011"].title == ("Computing genus 2 Hilbert-Siegel modular forms over \u211a(\u221a(5)) via "
                                         "the Jacquet-Langlands correspondence")
    assert papers["0704.0013"].venue is None


# ------------------------------------------------------------------------------------- BibTeX flavours


def test_zotero_bibtex_export():
    papers = papers_of("zotero.bib")
    assert list(papers) == ["vaswani_attention_2017", "hu_lora_2021", "balestriero_provable_2025", "he_deep_2016"]
    attention = papers["vaswani_attention_2017"]
    assert (attention.id, attention.title, attention.year, attention.line) == (
        "key:zotero:vaswani_attention_2017", "Attention Is All You Need", 2017, 2)
    assert attention.abstract.endswith("28.4 BLEU on WMT 2014 English\u2013German while training in a fraction "
                                       "of the time of earlier models.")
    assert attention.authors == ["Ashish Vaswani", "Noam Shazeer", "Niki Parmar", "Jakob Uszkoreit", "Llion Jones",
                                 "Aidan N Gomez", "Łukasz Kaiser", "Illia Polosukhin"]
    assert attention.venue == "Advances in Neural Information Processing Systems"
    assert attention.file == str(LIB / "files" / "12" / "Vaswani et al. - 2017 - Attention Is All You Need.pdf")
    lora = papers["hu_lora_2021"]
    assert (lora.id, lora.doi, lora.arxiv_id, lora.url) == (
        "doi:10.48550/arxiv.2106.09685", "10.48550/arxiv.2106.09685", "2106.09685", "http://arxiv.org/abs/2106.09685")
    assert lora.title == "LoRA: Low-Rank Adaptation of Large Language Models"
    assert lora.abstract == (
        "We freeze the pre-trained weights and inject trainable rank decomposition matrices into each layer, which "
        "cuts the trainable parameters by 10,000× and GPU memory by 3×. With ~4.7M trainable parameters per task we "
        "match full fine-tuning on RoBERTa and GPT-3; about 50% of the runs finish in under an hour.")
    assert lora.categories == ["Computer Science - Artificial Intelligence",
                               "Computer Science - Computation and Language", "Computer Science - Machine Learning"]
    assert lora.file == ("/home/ana/Zotero/storage/7ZQK2M4D/"
                         "Hu et al. - 2021 - LoRA Low-Rank Adaptation of Large Language Models.pdf")
    assert papers["balestriero_provable_2025"].abstract == (
        "We instantiate our theory in SIGReg, a regularizer of \U0001d4aa(N) cost that needs about 50 lines of code "
        "and reaches 79% top-1 (code).")
    resnet = papers["he_deep_2016"]
    assert (resnet.id, resnet.abstract, resnet.file, resnet.year) == ("doi:10.1109/cvpr.2016.90", "", None, 2016)
    assert resnet.venue == "2016 IEEE Conference on Computer Vision and Pattern Recognition (CVPR)"


def test_bibtex_entry_text_is_kept_exactly_as_in_the_file():
    text = (LIB / "zotero.bib").read_text(encoding="utf-8")
    for paper in read_papers(LIB / "zotero.bib"):
        start = text.rindex("@", 0, text.index(f"{{{paper.citation_key},"))
        assert paper.bibtex == text[start : text.index("\n}", start) + 2]
    crlf = (LIB / "jabref.bib").read_bytes().decode("utf-8")
    lstm = papers_of("jabref.bib")["Hochreiter1997"]
    assert lstm.bibtex.startswith("@Article{Hochreiter1997,\r\n  author    = {Sepp Hochreiter and J{\\\"u}rgen")
    assert lstm.bibtex.endswith("  publisher = {MIT Press},\r\n}") and lstm.bibtex in crlf


def test_better_bibtex_biblatex_export():
    papers = papers_of("betterbibtex.bib")
    spin = papers["bachmannLiebRobinsonBounds2014"]
    assert spin.title == ("Lieb-Robinson Bounds, Arveson Spectrum and Haag-Ruelle Scattering Theory for Gapped "
                          "Quantum Spin Systems")
    assert (spin.id, spin.arxiv_id, spin.url, spin.year, spin.venue) == (
        "arxiv:1412.2970", "1412.2970", "https://arxiv.org/abs/1412.2970", 2014, "Annales Henri Poincaré")
    assert spin.abstract.endswith("Haag\u2013Ruelle scattering theory for gapped quantum spin systems on \u2124^d "
                                  "with d \u2265 1.")
    assert spin.categories == ["Lieb-Robinson bounds", "Mathematical Physics", "Quantum Physics"]
    assert spin.file == "/home/ana/Zotero/storage/QW3ERT5Y/Bachmann et al. - 2014 - Lieb-Robinson Bounds.pdf"
    bridges = papers["mullerSchrodingerBridges2023"]
    assert (bridges.title, bridges.year, bridges.line) == ("Schrödinger Bridges for \u03b1-Divergence Minimisation",
                                                           2023, 16)
    assert bridges.authors == ["Jörg Müller", "Anna van der Berg", "DeepMind Research Team"]
    assert bridges.venue == "Proceedings of the 40th International Conference on Machine Learning"
    assert bridges.categories == ["optimal transport", "diffusion models"]
    assert bridges.file == str(LIB / "papers" / "Muller 2023 - Schrodinger Bridges.pdf")
    assert bridges.id == "key:betterbibtex:mullerSchrodingerBridges2023"


def test_jabref_export_with_crlf_strings_and_escaped_colons():
    papers = papers_of("jabref.bib")
    attention = papers["Vaswani2017"]
    assert (attention.venue, attention.line, attention.id) == (
        "Advances in Neural Information Processing Systems", 5, "doi:10.5555/3295222.3295349")
    assert attention.authors[6] == "Łukasz Kaiser" and attention.abstract == ""
    assert attention.file == str(LIB / "papers" / "Vaswani2017 - Attention Is All You Need.pdf")
    lstm = papers["Hochreiter1997"]
    assert (lstm.authors, lstm.year, lstm.venue, lstm.line) == (
        ["Sepp Hochreiter", "Jürgen Schmidhuber"], 1997, "Neural Computation", 18)
    assert lstm.file == "C:/Users/ana/Papers/Hochreiter1997.pdf"
    assert "\r" not in lstm.abstract and lstm.abstract.startswith("Learning to store information")


def test_mendeley_export():
    papers = papers_of("mendeley.bib")
    assert list(papers) == ["Devlin2018", "Cahyono2024"]
    bert = papers["Devlin2018"]
    assert bert.title == "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding"
    assert (bert.id, bert.arxiv_id, bert.year, bert.line) == ("arxiv:1810.04805", "1810.04805", 2018, 6)
    assert bert.categories == ["language models", "pre-training", "transformers"]
    naive = papers["Cahyono2024"]
    assert naive.title == "Fast Naïve Bayes classifiers for COVID-19 news in social networks"
    assert naive.file == ("C:/Users/hasan/Documents/Mendeley Desktop/Cahyono, Wardani - 2024 - "
                          "Fast Naïve Bayes classifiers.pdf")
    assert naive.categories == ["Fake news detection", "Naïve Bayes classifiers", "Social media"]


def test_mendeley_path_without_its_leading_slash(tmp_path):
    pdf = tmp_path / "Mendeley Desktop" / "Doe - 2020 - Paper.pdf"
    pdf.parent.mkdir()
    pdf.write_bytes(b"%PDF-1.4\n")
    path = write(tmp_path, "library.bib", "@article{Doe2020,\ntitle = {{A Paper}},\n"
                                          f"file = {{:{str(pdf).lstrip('/')}:pdf}},\nyear = {{2020}}\n}}\n")
    assert next(read_papers(path)).file == str(pdf)


def test_google_scholar_and_dblp_exports():
    papers = papers_of("scholar.bib")
    bert = papers["devlin2018bert"]
    assert (bert.id, bert.arxiv_id, bert.abstract, bert.venue, bert.url) == (
        "arxiv:1810.04805", "1810.04805", "", "arXiv preprint arXiv:1810.04805", "https://arxiv.org/abs/1810.04805")
    attention = papers["vaswani2017attention"]
    assert attention.authors == ["Ashish Vaswani", "Noam Shazeer", "Niki Parmar", "Jakob Uszkoreit", "Llion Jones",
                                 "Aidan N Gomez", "Łukasz Kaiser"]  # "and others" is BibTeX's et al.
    assert (attention.id, attention.year, attention.line) == ("key:scholar:vaswani2017attention", 2017, 8)
    resnet = papers["DBLP:conf/cvpr/HeZRS16"]
    assert resnet.authors == ["Kaiming He", "Xiangyu Zhang", "Shaoqing Ren", "Jian Sun"]
    assert resnet.venue == ("2016 IEEE Conference on Computer Vision and Pattern Recognition, CVPR 2016, "
                            "Las Vegas, NV, USA, June 27-30, 2016")
    assert (resnet.id, resnet.line) == ("doi:10.1109/cvpr.2016.90", 16)


def test_bibtex_macros_concatenation_months_and_ignored_blocks(tmp_path):
    text = (
        '@preamble{"\\newcommand{\\noopsort}[1]{}"}\n'
        "@comment{ignore me, even with {braces}}\n"
        '@string{ml = "Machine Learning"}\n'
        '@STRING{jmlr = "Journal of " # ml # " Research"}\n'
        "@article(paren2020,\n"
        "  TITLE = {Parentheses (and {Braces})},\n"
        '  Journal = jmlr # { (JMLR)},\n'
        "  month = jan,\n"
        "  year = 2020\n"
        ")\n"
        "@article{unknown2021, title = {Unknown Macro}, journal = neurips, keywords = {C\\#; {F}\\# },\n"
        "  url = {https://example.org/a\\_b}}\n"
    )
    paren, unknown = read_papers(write(tmp_path, "macros.bib", text))
    assert (paren.title, paren.venue, paren.year, paren.line) == (
        "Parentheses (and Braces)", "Journal of Machine Learning Research (JMLR)", 2020, 5)
    assert (unknown.venue, unknown.categories, unknown.line) == ("neurips", ["C#", "F#"], 11)
    assert unknown.url == "https://example.org/a_b"


def test_bibtex_bad_records_name_file_line_and_key():
    path = LIB / "broken.bib"
    with pytest.raises(InputFormatError) as exc:
        list(read_papers(path))
    assert str(exc.value) == (f"{path}:9: BibTeX syntax error in entry 'unclosed2021': Unexpected block start: "
                              "`@article`. Was still looking for field-value closing `}`")
    papers, errors = skipped_of(path)
    assert [(p.citation_key, p.venue, p.line) for p in papers] == [
        ("good2020", "International Conference on Machine Learning (ICML)", 3), ("last2022", None, 27)]
    assert errors[1:] == [
        f"{path}:13: entry 'notitle2019' has no title",
        f"{path}:18: duplicate citation key 'good2020' (first at line 3)",
        f"{path}:22: entry 'twotitles2018' has more than one title field",
    ]


def test_bibtex_batches_keep_macros_lines_and_order(tmp_path, monkeypatch):
    entries = [f"@article{{e{i},\n  title = {{Entry {i}}},\n  journal = jn,\n  year = {2000 + i}\n}}\n"
               for i in range(40)]
    path = write(tmp_path, "many.bib", "@string{jn = {Journal of Nothing}}\n" + "".join(entries))
    whole = [(p.citation_key, p.venue, p.year, p.line, p.bibtex) for p in read_papers(path)]
    monkeypatch.setattr(bibtex, "_BATCH_BYTES", 120)
    assert [(p.citation_key, p.venue, p.year, p.line, p.bibtex) for p in read_papers(path)] == whole
    assert whole[39] == ("e39", "Journal of Nothing", 2039, 2 + 39 * 5, entries[39].rstrip("\n"))


def test_a_latin1_bibtex_file_names_the_line_of_the_first_bad_byte(tmp_path):
    path = tmp_path / "legacy.bib"
    path.write_bytes("% Encoding: ISO8859_1\n@article{a,\n  title = {Caf\xe9}\n}\n".encode("latin-1"))
    with pytest.raises(InputFormatError) as exc:
        list(read_papers(path, skip_bad=True))
    assert str(exc.value) == (f"{path}:3: the file is not UTF-8 text (byte 0xe9 at byte offset 48); "
                              "save it as UTF-8")


def test_a_bibtex_file_of_only_comments_has_no_papers(tmp_path):
    path = write(tmp_path, "empty.bib", "% nothing here\n@comment{jabref-meta: databaseType:bibtex;}\n")
    with pytest.raises(InputFormatError) as exc:
        list(read_papers(path))
    assert str(exc.value) == f"{path}: no papers found"


# ------------------------------------------------------------------------------------- RIS


def test_zotero_ris_export():
    resnet, lora, plants = read_papers(LIB / "zotero.ris")
    assert (resnet.id, resnet.line, resnet.year, resnet.citation_key) == ("doi:10.1109/cvpr.2016.90", 1, 2016, None)
    assert resnet.authors == ["Kaiming He", "Xiangyu Zhang", "Shaoqing Ren", "Jian Sun"]
    assert resnet.venue == "2016 IEEE Conference on Computer Vision and Pattern Recognition (CVPR)"
    assert resnet.abstract == ("We present a residual learning framework that eases the training of networks "
                               "substantially deeper than those used previously.")
    assert resnet.file == str(LIB / "files" / "7" / "He et al. - 2016 - Deep Residual Learning for Image "
                                                    "Recognition.pdf")
    assert (lora.id, lora.arxiv_id, lora.line, lora.year, lora.url) == (
        "doi:10.48550/arxiv.2106.09685", "2106.09685", 23, 2021, "http://arxiv.org/abs/2106.09685")
    assert lora.categories == ["Computer Science - Machine Learning", "Computer Science - Computation and Language"]
    assert lora.file == str(LIB / "files" / "9" / "Hu et al. - 2021 - LoRA.pdf")  # the PDF, not the snapshot
    assert plants.title == "Photosynthesis in Arabidopsis thaliana under CO2 enrichment"
    assert (plants.venue, plants.authors, plants.abstract, plants.id) == (
        "Plant Physiology & Biochemistry", ["María García-López", "Seán O'Brien"], "", title_id(plants.title))


def test_endnote_ris_with_bom_crlf_continuation_and_no_final_er():
    assert (LIB / "endnote.ris").read_bytes()[:3] == b"\xef\xbb\xbf"
    resnet, chapter, lstm = read_papers(LIB / "endnote.ris")
    assert (resnet.title, resnet.year, resnet.citation_key, resnet.id) == (
        "Deep residual learning for image recognition", 2016, "15", "doi:10.1109/cvpr.2016.90")
    assert resnet.abstract == ("We present a residual learning framework to ease the training of networks that "
                               "are substantially deeper than those used previously.")
    assert resnet.venue == "Proceedings of the IEEE Conference on Computer Vision and Pattern Recognition"
    assert resnet.categories == ["residual networks", "image classification", "deep learning"]
    assert resnet.file is None  # internal-pdf:// points into EndNote's own data folder
    assert (chapter.authors, chapter.venue, chapter.id, chapter.line) == (
        ["Jānis Bērziņš", "John Smith Jr."], "Handbook of Agriculture", "key:endnote:16", 20)
    assert (lstm.title, lstm.year, lstm.line, lstm.doi, lstm.id) == (
        "Long short-term memory", 1997, 30, "10.1162/neco.1997.9.8.1735", "doi:10.1162/neco.1997.9.8.1735")


def test_ris_record_without_er_ends_at_the_next_ty(tmp_path):
    path = write(tmp_path, "a.ris", "TY  - JOUR\nTI  - First\nAU  - Doe, Jane\n\nTY  - BOOK\nTI  - Second\nER  -\n")
    assert [(p.title, p.authors, p.line) for p in read_papers(path)] == [("First", ["Jane Doe"], 1), ("Second", [], 5)]


def test_ris_bad_records_name_their_line():
    path = LIB / "bad.ris"
    with pytest.raises(InputFormatError) as exc:
        list(read_papers(path))
    assert str(exc.value) == f"{path}:9: RIS record without a TY line (it starts with TI)"
    papers, errors = skipped_of(path)
    assert [(p.title, p.line) for p in papers] == [("A Good Record", 4), ("Another Good Record", 20)]
    assert errors == [f"{path}:9: RIS record without a TY line (it starts with TI)",
                      f"{path}:14: RIS record without a title (TI or T1)"]


# ------------------------------------------------------------------------------------- CSL-JSON


def test_zotero_csl_json_export():
    resnet, lora, imaging = read_papers(LIB / "zotero.json")
    assert (resnet.id, resnet.year, resnet.line) == ("doi:10.1109/cvpr.2016.90", 2016, 2)
    assert resnet.citation_key == "http://zotero.org/users/local/abcdEFGH/items/QX7VW2KA"
    assert resnet.venue == "2016 IEEE Conference on Computer Vision and Pattern Recognition (CVPR)"
    assert resnet.authors == ["Kaiming He", "Xiangyu Zhang", "Shaoqing Ren", "Jian Sun"]
    assert (lora.id, lora.arxiv_id, lora.year, lora.venue, lora.line) == (
        "doi:10.48550/arxiv.2106.09685", "2106.09685", 2021, None, 53)
    assert imaging.title == "Scaling in vivo imaging with deep learning"
    assert (imaging.authors, imaging.year, imaging.categories, imaging.abstract) == (
        ["Laurens van der Maaten", "OpenAI"], 2008, ["imaging", "deep learning"], "")
    assert imaging.id == "key:zotero:http://zotero.org/users/local/abcdEFGH/items/K2L9Q0DD"


def test_csl_json_bad_items_and_broken_syntax(tmp_path):
    items = [{"id": "a", "type": "book", "title": "Fine", "issued": {"date-parts": [[1999]]}},
             ["not", "an", "item"], {"id": "b", "type": "book", "author": [{"family": "X"}]}]
    path = write(tmp_path, "items.json", json.dumps(items, indent=2))
    assert detect_format(path) == "csljson"
    papers, errors = skipped_of(path)
    assert [(p.title, p.year, p.id) for p in papers] == [("Fine", 1999, "key:items:a")]
    assert errors == [f"{path}:14: expected a CSL item (a JSON object), got list",
                      f"{path}:19: CSL item 'b' has no title"]
    broken = write(tmp_path, "broken.csljson", '[\n{"id": "a", "title": "A"},\n{"id": "b" "title": "B"}\n]')
    with pytest.raises(InputFormatError) as exc:
        list(read_papers(broken, skip_bad=True))
    assert exc.value.line == 3 and str(exc.value).startswith(f"{broken}:3: malformed JSON: ")


# ------------------------------------------------------------------------------------- across formats


def test_the_same_paper_gets_the_same_id_in_every_export():
    resnet = {p.id for name in ("zotero.bib", "scholar.bib", "zotero.ris", "endnote.ris", "zotero.json")
              for p in read_papers(LIB / name) if "residual learning" in p.title.lower()}
    lora = {p.id for name in ("zotero.bib", "zotero.ris", "zotero.json")
            for p in read_papers(LIB / name) if p.title.startswith("LoRA")}
    bert = {p.id for name in ("mendeley.bib", "scholar.bib") for p in read_papers(LIB / name)
            if p.title.lower().startswith("bert")}
    lstm = {p.id for name in ("jabref.bib", "endnote.ris") for p in read_papers(LIB / name)
            if p.title.lower() == "long short-term memory"}
    assert (resnet, lora, bert, lstm) == ({"doi:10.1109/cvpr.2016.90"}, {"doi:10.48550/arxiv.2106.09685"},
                                          {"arxiv:1810.04805"}, {"doi:10.1162/neco.1997.9.8.1735"})


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("refs.bib", "% Encoding: UTF-8\n", "bibtex"),
        ("refs.txt", "\n@article{a,\n title = {A}}\n", "bibtex"),
        ("export.ris", "\n", "ris"),
        ("export.txt", "TY  - JOUR\nTI  - A\nER  - \n", "ris"),
        ("zotero.json", '[{"id": "x", "type": "article-journal", "title": "A", "issued": {"date-parts": [[2020]]}}]',
         "csljson"),
        ("names.json", '[{"type": "book", "title": "A", "author": [{"family": "Doe", "given": "J"}]}]', "csljson"),
        ("plain.json", '[{"title": "A", "abstract": "B", "type": "paper"}]', "json"),
        ("items.csljson", '[{"title": "A"}]', "csljson"),
    ],
)
def test_detect_library_formats(tmp_path, name, text, expected):
    assert detect_format(write(tmp_path, name, text)) == expected


def test_detect_library_formats_on_the_samples():
    assert {name: detect_format(LIB / name) for name in ("zotero.bib", "zotero.ris", "endnote.ris", "zotero.json")} == {
        "zotero.bib": "bibtex", "zotero.ris": "ris", "endnote.ris": "ris", "zotero.json": "csljson"}


def test_forced_formats_read_files_of_any_name(tmp_path):
    bib = write(tmp_path, "export.txt", (LIB / "scholar.bib").read_text(encoding="utf-8"))
    ris = write(tmp_path, "export.dat", (LIB / "zotero.ris").read_text(encoding="utf-8"))
    csl = write(tmp_path, "export.data", (LIB / "zotero.json").read_text(encoding="utf-8"))
    assert [len(list(read_papers(path, fmt))) for path, fmt in ((bib, "bibtex"), (ris, "ris"), (csl, "csljson"))] == [
        3, 3, 3]


def test_estimate_records_counts_records_without_parsing():
    counts = {name: readers.estimate_records(LIB / name) for name in (
        "zotero.bib", "broken.bib", "jabref.bib", "zotero.ris", "endnote.ris", "bad.ris", "zotero.json")}
    assert counts == {"zotero.bib": 4, "broken.bib": 6, "jabref.bib": 2, "zotero.ris": 3, "endnote.ris": 3,
                      "bad.ris": 3, "zotero.json": 3}
    listing = Path(__file__).resolve().parents[1] / "data" / "papers.txt"
    assert readers.estimate_records(listing) == 156


# ------------------------------------------------------------------------------------- record size cap


def test_records_over_the_size_cap_are_bad_records(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "MAX_RECORD_BYTES", 300)
    big = "x" * 400
    bib = write(tmp_path, "a.bib", f"@article{{small, title = {{Small}}}}\n@article{{big,\n title = {{{big}}}\n}}\n"
                                   "@article{after, title = {After}}\n")
    papers, errors = skipped_of(bib)
    assert [p.citation_key for p in papers] == ["small", "after"]
    assert errors == [f"{bib}:2: record is larger than 0.0003 MB (entry 'big', 428 bytes)"]
    ris = write(tmp_path, "a.ris", f"TY  - JOUR\nTI  - {big}\nER  - \nTY  - JOUR\nTI  - Fine\nER  - \n")
    papers, errors = skipped_of(ris)
    assert [p.title for p in papers] == ["Fine"]
    assert errors == [f"{ris}:1: record is larger than 0.0003 MB (425 bytes)"]
    jsonl = write(tmp_path, "a.jsonl", json.dumps({"title": "T", "abstract": big}) + '\n{"title": "U", "text": "u"}\n')
    assert skipped_of(jsonl)[1] == [f"{jsonl}:1: record is larger than 0.0003 MB (431 bytes)"]
    csv = write(tmp_path, "a.csv", f'title,abstract\nBig,"{big}\nmore"\nSmall,text\n')
    assert skipped_of(csv)[1] == [f"{csv}:2: record is larger than 0.0003 MB (412 bytes)"]
    array = write(tmp_path, "a.json", json.dumps([{"title": "T", "abstract": big}, {"title": "U", "abstract": "u"}],
                                                  indent=1))
    papers, errors = skipped_of(array)
    assert [p.title for p in papers] == ["U"] and len(errors) == 1
    assert errors[0].startswith(f"{array}:2: record is larger than 0.0003 MB (about ")


def test_the_default_size_cap_is_2_mb(tmp_path):
    assert readers.MAX_RECORD_BYTES == 2_000_000
    path = write(tmp_path, "huge.jsonl", json.dumps({"title": "T", "abstract": "w " * 1_000_001}) + "\n")
    with pytest.raises(InputFormatError) as exc:
        list(read_papers(path))
    assert str(exc.value) == f"{path}:1: record is larger than 2 MB (2,000,033 bytes)"


# ------------------------------------------------------------------------------------- JSON arrays (ijson)


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ('{"title": "A", "abstract": "x"}\n[1]', 1, "malformed JSON: expected a JSON array starting with '['"),
        ('[\n{"title": "A", "abstract": "x"},\n{"title": "B"', 3, "malformed JSON: the file ends inside the array "
                                                                   "(missing ']')"),
        ('[\n{"title": "A", "abstract": "x"}\n]\n\n]', 5, "malformed JSON: unexpected text after the closing ']'"),
    ],
)
def test_json_array_structure_errors(tmp_path, text, line, reason):
    path = write(tmp_path, "papers.json", text)
    with pytest.raises(InputFormatError) as exc:
        list(readers._read_json(path))
    assert (exc.value.line, exc.value.reason) == (line, reason)


def test_json_array_with_bom_scalars_and_floats(tmp_path):
    path = tmp_path / "papers.json"
    path.write_bytes('[\n{"title": "A", "abstract": "x", "year": 2021.0},\n"just text"\n]'.encode("utf-8-sig"))
    papers, errors = skipped_of(path)
    assert [(p.title, p.year, p.line) for p in papers] == [("A", 2021, 2)]
    assert errors == [f"{path}:3: expected a JSON object, got str"]


# ------------------------------------------------------------------------------------- speed


def _generated_entry(i: int, rng: random.Random) -> str:
    """A Zotero-like entry: abstract of ~150 words, a quarter of them with LaTeX, four authors, keywords."""
    words = [rng.choice(_WORDS) for _ in range(150)]
    if i % 4 == 0:
        words[10], words[40], words[80] = r"$\alpha$-divergence", r"M{\"u}ller's", r"50\%"
    title = f"{{Paper}} {i}: " + " ".join(rng.choice(_WORDS) for _ in range(8))
    authors = " and ".join(f"Last{i}x{k}, First{k}" for k in range(4))
    return (f"@article{{key{i},\n\ttitle = {{{title}}},\n\tauthor = {{{authors}}},\n\tjournal = {{Journal {i % 50}}},\n"
            f"\tmonth = jan,\n\tyear = {{{2000 + i % 25}}},\n\tdoi = {{10.1000/test.{i}}},\n"
            f"\tkeywords = {{retrieval, language models}},\n\tabstract = {{{' '.join(words)}}},\n}}\n\n")


_WORDS = ["retrieval", "dense", "sparse", "model", "language", "training", "memory", "attention", "transformer",
          "gradient", "optimizer", "benchmark", "evaluation", "corpus", "scientific", "claim,", "evidence;", "results"]


def test_bibtex_speed_on_5000_entries_against_jsonl(tmp_path, capsys):
    rng = random.Random(7)
    bib = write(tmp_path, "big.bib", "".join(_generated_entry(i, rng) for i in range(5000)))
    list(read_papers(LIB / "zotero.bib"))  # imports and pylatexenc set-up are not part of the rate
    start, cpu = time.perf_counter(), time.process_time()
    papers = list(read_papers(bib))
    bib_s, bib_cpu = time.perf_counter() - start, time.process_time() - cpu
    assert len(papers) == 5000 and len({p.id for p in papers}) == 5000
    assert papers[4].title.startswith("Paper 4: ") and "{" not in papers[4].title
    assert (papers[4].year, papers[4].authors[0], papers[4].venue, papers[4].id, papers[4].line) == (
        2004, "First0 Last4x0", "Journal 4", "doi:10.1000/test.4", 4 * 11 + 1)
    assert "α-divergence" in papers[4].abstract and "Müller's" in papers[4].abstract and "$" not in papers[4].abstract
    jsonl = tmp_path / "big.jsonl"
    jsonl.write_text("".join(json.dumps({"title": p.title, "abstract": p.abstract, "authors": p.authors,
                                         "year": p.year, "doi": p.doi}) + "\n" for p in papers))
    start = time.perf_counter()
    assert sum(1 for _ in read_papers(jsonl)) == 5000
    jsonl_s = time.perf_counter() - start
    with capsys.disabled():
        print(f"\n[speed] bibtex: 5000 entries in {bib_s:.2f} s = {5000 / bib_s:,.0f} entries/s "
              f"(CPU {bib_cpu:.2f} s = {5000 / bib_cpu:,.0f}/s); "
              f"jsonl: same papers in {jsonl_s:.2f} s = {5000 / jsonl_s:,.0f} records/s")
