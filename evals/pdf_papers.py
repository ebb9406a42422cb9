"""Twelve short, invented research papers as `PaperSpec`s, for the full-text (PDF) eval set.

Each paper's body states specific facts its abstract does not (a hyperparameter, the hardware, a dataset
size, an ablation with numbers, a limitation), so `evals/datasets/pdf.jsonl` can ask questions that only
the body text answers. The PDFs are written at run time with tests/pdfgen.py (fpdf2, a dev dependency),
as the tests and evals/bench_pdf.py do, so the repository holds no binary PDFs.

The helpers below give the ground truth the eval and its tests check against: a paper's abstract and body
as plain text, and the PDF page(s) a piece of body text is printed on (from pdfgen's own layout).
"""

from __future__ import annotations

import functools
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from paperchat.rag.settings import PACKAGE_ROOT


def _pdfgen():
    """tests/pdfgen.py, the test PDF writer (the eval runs from a checkout, like the tests)."""
    sys.path.insert(0, str(PACKAGE_ROOT / "tests"))
    import pdfgen

    return pdfgen


# ------------------------------------------------------------------------------------- the papers
# Each paper: title, authors, affiliation, year, columns, abstract, sections [(heading, [paragraph, ...])]
# (numbered when laid out), references, an optional appendix after the references (lettered), and optional
# layout extras (arXiv stamp, first-page note).

_PAPERS: list[dict] = [
    # 1 ------------------------------------------------------------------------------------------------
    dict(
        slug="tree-speculative-decoding",
        title="Tree-Structured Speculative Decoding with Cache-Aware Draft Models",
        authors=["Mei Lin Zhou", "Daniel Okafor", "Priya Raman"],
        affiliation="Department of Computer Science, University of Lisbon",
        year=2024, columns=1, arxiv="arXiv:2405.11873v1 [cs.CL] 20 May 2024",
        abstract=(
            "Speculative decoding speeds up autoregressive generation by letting a small draft model propose "
            "tokens that a large target model verifies in parallel. We observe that most of the cost of "
            "verification in existing systems comes from recomputing attention over draft branches that share "
            "a prefix. We propose a tree-structured verifier that lets the draft and the target model share a "
            "paged key-value cache, so that a shared prefix is computed only once. Across code, dialogue and "
            "summarization workloads our method produces exactly the outputs of greedy decoding with the target "
            "model while generating text substantially faster than prior speculative decoders."
        ),
        sections=[
            ("Introduction", [
                "Large language models generate one token per forward pass, and for a model with billions of "
                "parameters each pass is limited by how fast the weights can be read from memory rather than by "
                "arithmetic. Speculative decoding (Leviathan et al., 2023; Chen et al., 2023) exploits this gap: "
                "a cheap draft model guesses several tokens ahead, and the target model checks all of the "
                "guesses in a single pass. Whenever the guesses agree with what the target would have produced, "
                "several tokens are accepted for the price of one target pass.",
                "Later systems draft a tree of continuations instead of a single chain, so that a wrong guess "
                "early in the sequence does not waste the whole draft. Trees raise the number of accepted tokens, "
                "but they also multiply the attention work of verification, because every branch is verified "
                "with its own copy of the prefix it shares with its siblings. In our profiles of an existing "
                "tree decoder, recomputing those shared prefixes accounted for more than half of verification "
                "time on long prompts.",
                "This paper removes that redundancy. The draft and target models write into one paged key-value "
                "cache in which a tree node owns only the pages of its own tokens and points to the pages of its "
                "ancestors. Verification then touches each prefix once, whatever the number of branches that "
                "extend it. The change is invisible to the sampling procedure, so the outputs are exactly those "
                "of the target model.",
            ]),
            ("Related Work", [
                "Blockwise parallel decoding (Stern et al., 2018) first proposed to predict several future tokens "
                "and keep the prefix that a scoring model agrees with. Speculative decoding and speculative sampling "
                "turned the idea into an exact method for sampling from the target distribution with a separate "
                "draft model. Since then, work has gone in three directions: better drafts, better verification, and "
                "better systems.",
                "Better drafts include self-drafting with extra prediction heads on the target model itself, "
                "early-exit drafts that reuse the target's lower layers, and retrieval of continuations from the "
                "prompt or a datastore. Better verification accepts more tokens per step by verifying several "
                "candidates at once, either as a batch of independent sequences or as a token tree. Systems work has "
                "integrated speculation into serving engines with continuous batching and paged memory. Our "
                "contribution sits between the last two lines: we keep a conventional external draft model but "
                "change how the tree is stored, so that the memory layout of verification matches the structure of "
                "the tree.",
            ]),
            ("Method", [
                "The draft model proposes a tree of fixed shape at every step. The root holds the last accepted "
                "token; the first level has three children, the most likely tokens under the draft model, and "
                "every deeper node has two. We use a draft tree of depth 5, which gives 63 candidate tokens per "
                "step and fits comfortably in one verification pass of the target model.",
                "The target model verifies the whole tree with a tree attention mask: each candidate attends to "
                "its ancestors and to the prompt, never to its siblings. Because all candidates of one level are "
                "written to the paged cache before the next level is drafted, the target reads the keys and "
                "values of a shared ancestor from the same pages for every descendant. After verification the "
                "longest accepted path is kept and the pages of rejected branches are returned to a free list, "
                "which costs a few microseconds.",
                "The draft model is a small decoder with 68M parameters and 6 layers, distilled from the target "
                "model on 2 billion tokens of its own greedy outputs. Distilling on target outputs rather than "
                "on web text matters: a draft trained on web text alone was accepted noticeably less often in "
                "preliminary runs. The target model is a 13B-parameter decoder, used unchanged.",
            ]),
            ("Experimental Setup", [
                "All measurements were taken on a single server with four NVIDIA L4 GPUs with 24 GB of memory "
                "each, running the target model with tensor parallelism across the four devices and the draft "
                "model replicated on every device. We report wall-clock speedup over plain greedy decoding with "
                "the same target model and the same serving engine, averaged over three runs.",
                "The workloads are code completion on a set of 500 function-level prompts, multi-turn dialogue "
                "on 800 conversations, and summarization of 400 news articles. Prompts are between 200 and 3,000 "
                "tokens long, and every request generates up to 256 tokens. Unless stated otherwise the batch "
                "size is one request, the usual setting for interactive use.",
            ]),
            ("Results", [
                "Our decoder generates code 2.3x faster than greedy decoding, dialogue 1.9x faster and summaries "
                "1.6x faster. Code is the easiest case because its continuations are predictable; summaries "
                "paraphrase the source and are accepted less often. On average 3.4 tokens are accepted per "
                "verification step at temperature zero.",
                "Two ablations isolate the parts of the method. Without cache sharing, each branch is verified "
                "with its own copy of the prefix, and the speedup on code falls from 2.3x to 1.5x: the extra "
                "attention work eats most of the gain of the tree. Replacing the tree with a single chain of "
                "five draft tokens, with cache sharing kept, gives a speedup of 1.8x on code, because a wrong "
                "early guess then discards the whole draft.",
                "Acceptance depends on how the target samples. At a temperature of 1.0 the mean number of "
                "accepted tokens per step drops to 2.1 and the speedup on code to 1.7x, since the draft cannot "
                "anticipate random choices of the target.",
            ]),
            ("Analysis of Verification Cost", [
                "To see where verification time goes, we instrumented the attention kernels of the target model. For "
                "a prompt of 2,000 tokens and a draft tree of 63 candidates, a decoder without cache sharing reads "
                "the keys and values of the prompt once per branch, and the attention kernels account for most of "
                "the time of the verification pass. With the shared cache the prompt is read once per step, and the "
                "matrix multiplications of the feed-forward layers become the largest cost again, as they are in "
                "ordinary decoding.",
                "The cost of managing pages is small. Allocating the pages of a new tree level and returning the "
                "pages of rejected branches together take less than one percent of a decoding step, because pages "
                "are recycled through a free list and never returned to the allocator of the serving engine.",
                "Tree shape interacts with prompt length. For short prompts a wider first level pays off, because "
                "recomputation was cheap anyway and more candidates raise acceptance; for long prompts the saving of "
                "the shared cache dominates and the exact shape matters less. We kept one shape for all workloads "
                "for simplicity.",
            ]),
            ("Limitations", [
                "Speculative decoding pays off only while verification is limited by memory bandwidth. As the "
                "batch grows the target pass becomes compute-bound, and in our measurements the gain vanished "
                "at a batch size of 32 and above, where our decoder was no faster than batched greedy decoding. "
                "Serving systems that batch many requests should switch speculation off under heavy load.",
                "The draft model has to be distilled for each target model, which took about a day of compute "
                "for the 13B target. We have not studied targets with mixture-of-experts layers, whose "
                "verification cost depends on which experts the candidates route to.",
            ]),
        ],
        references=[
            "Y. Leviathan, M. Kalman and Y. Matias. Fast inference from transformers via speculative decoding. "
            "In ICML, 2023.",
            "C. Chen, S. Borgeaud, G. Irving et al. Accelerating large language model decoding with speculative "
            "sampling. arXiv preprint, 2023.",
            "W. Kwon, Z. Li, S. Zhuang et al. Efficient memory management for large language model serving with "
            "PagedAttention. In SOSP, 2023.",
            "X. Miao, G. Oliaro, Z. Zhang et al. SpecInfer: accelerating generative LLM serving with tree-based "
            "speculative inference and verification. In ASPLOS, 2024.",
        ],
        appendix=[
            ("Serving Configuration", [
                "The serving engine uses pages of 16 tokens for both models. Draft and target weights are stored in "
                "16-bit floating point; the draft model's pages live in the same pool as the target's, so that a "
                "node's keys and values for both models are freed together when the node is rejected. Prompts are "
                "processed with the target model first, and the draft model then reads the prompt's tokens and "
                "builds its own pages in one pass before drafting begins.",
            ]),
        ],
    ),
    # 2 ------------------------------------------------------------------------------------------------
    dict(
        slug="sentiment-label-audit",
        title="How Noisy Are Crowd-Sourced Sentiment Labels? An Audit of Three Review Corpora",
        authors=["Hannah Vogel", "Tomasz Wierzbicki", "Aisha Bello"],
        affiliation="Institute for Language Technology, University of Bremen",
        year=2023, columns=2, note="Preprint. Under review.",
        abstract=(
            "Sentiment classifiers are trained and compared on review corpora whose labels were collected from "
            "crowd workers or inferred from star ratings. We re-annotate a sample of three widely used corpora "
            "with trained annotators and measure how often the original label disagrees with an adjudicated "
            "one. Disagreement is concentrated in reviews with mixed or sarcastic sentiment, and it is large "
            "enough to change the ranking of published models. We release the audited labels and an annotation "
            "guideline so that future benchmarks can report label quality alongside accuracy."
        ),
        sections=[
            ("Introduction", [
                "Sentiment analysis is one of the oldest text classification tasks, and review corpora remain "
                "the standard way to compare models for it. Their labels come cheaply: either crowd workers read "
                "a review and choose a polarity, or the star rating the reviewer gave is mapped to positive, "
                "neutral or negative. Both procedures are known to be noisy, but the size of the noise is rarely "
                "measured, and leaderboards report accuracy differences of a fraction of a point as if the "
                "labels were exact.",
                "We audit three corpora of restaurant, product and movie reviews. Trained annotators label a "
                "random sample again under a written guideline, disagreements are adjudicated, and the "
                "adjudicated label is compared with the one distributed with the corpus. We then ask whether the "
                "noise we find could change which of several published models looks best.",
            ]),
            ("Related Work", [
                "Label noise in benchmark test sets has been documented for image classification, where a sizeable "
                "share of the test labels of popular datasets were shown to be wrong and where correcting them "
                "changed the ranking of models (Northcutt et al., 2021). For text, audits have examined natural "
                "language inference, where annotation artefacts let models succeed without reasoning, and question "
                "answering, where some gold answers are incomplete or wrong.",
                "Sentiment corpora have received less attention. Work on sarcasm detection has noted that sarcastic "
                "reviews are often labelled by their literal sentiment, and work on aspect-based sentiment has "
                "argued that one label per review cannot describe a review that praises the food and criticises the "
                "service. Our audit differs from both in that it measures the error rate of the distributed labels "
                "directly, on random samples, with a protocol that separates annotation from adjudication.",
            ]),
            ("Annotation Protocol", [
                "The audit covers 14,200 reviews in total: 4,700 restaurant reviews, 4,800 product reviews and "
                "4,700 movie reviews, drawn uniformly at random from the test split of each corpus. Each review "
                "was labelled independently by three annotators on a five-point scale from very negative to very "
                "positive, and a fourth, senior annotator adjudicated every review on which the three did not "
                "agree.",
                "The annotators were graduate students in linguistics who completed two training rounds of 200 "
                "reviews each before the audit began. They were paid 18 USD per hour, and the whole audit took "
                "about 310 hours of annotation time. The guideline asks annotators to label the sentiment the "
                "author expresses towards the reviewed item, not the sentiment of quoted speech or of other "
                "items the review compares it to, and it gives rules for sarcasm and for reviews that praise one "
                "aspect and criticise another.",
                "Agreement between the three annotators, measured as Krippendorff's alpha on the five-point "
                "scale, was 0.62; after collapsing the scale to the three classes used by the corpora it rose to "
                "0.81. Most disagreements on the five-point scale were between adjacent points.",
            ]),
            ("How Often Are the Labels Wrong?", [
                "After collapsing to three classes, 9.4% of the original labels differ from the adjudicated "
                "ones. The rate varies by corpus: labels derived from star ratings disagree more often than "
                "labels from crowd workers, because reviewers often give a middling rating to a text that is "
                "clearly positive or negative about the item itself.",
                "Errors are far from uniform. Among reviews that the annotators flagged as sarcastic, 27% of the "
                "original labels were wrong, and reviews with mixed sentiment were mislabelled about twice as "
                "often as reviews with a single clear polarity. Very short reviews, of fewer than ten words, "
                "were labelled reliably in all three corpora.",
                "Most errors move a label by one class, from neutral to positive or from negative to neutral. "
                "Outright reversals, positive in the corpus and negative after adjudication, are rare and almost "
                "all involve sarcasm.",
            ]),
            ("Consequences for Model Rankings", [
                "We evaluated eight published sentiment models, from a linear bag-of-words baseline to fine-tuned "
                "transformer encoders, on the audited sample with both the original and the adjudicated labels. "
                "With the original labels the two strongest models are separated by 0.6 points of accuracy; with "
                "the adjudicated labels their order is reversed, and the other six models keep their places.",
                "A bootstrap over reviews shows that differences below about one point of accuracy are not "
                "reliable on any single corpus once label noise is taken into account. We recommend that "
                "benchmark papers report the noise rate of their test labels, and that they treat differences "
                "smaller than it with caution.",
            ]),
            ("Recommendations", [
                "Three practices would make sentiment benchmarks more trustworthy. First, a benchmark should state "
                "how its labels were obtained and publish an estimate of their error rate from a small adjudicated "
                "sample; the cost of such a sample is modest compared with the cost of building the corpus. Second, "
                "labels derived from star ratings should be treated as weak labels for training rather than as gold "
                "labels for testing. Third, reviews with mixed sentiment deserve either a label of their own or "
                "aspect-level annotation, since forcing them into one polarity is the largest single source of "
                "disagreement we observed.",
                "We also encourage authors of models to report confidence intervals that include label noise. A "
                "bootstrap over test reviews captures sampling variation but not the uncertainty of the labels "
                "themselves, and differences that survive the bootstrap may still be artefacts of mislabelled "
                "examples.",
            ]),
            ("Limitations", [
                "The audit covers English reviews only; crowd labelling practices and the frequency of sarcasm "
                "differ between languages, so the rates we report should not be transferred to other languages. "
                "We also audited test splits only, assuming that the training splits were labelled by the same "
                "procedure, which the corpus documentation states but which we did not verify.",
            ]),
        ],
        references=[
            "B. Pang and L. Lee. Opinion mining and sentiment analysis. Foundations and Trends in Information "
            "Retrieval, 2008.",
            "K. Krippendorff. Content Analysis: An Introduction to Its Methodology. Sage, 2004.",
            "C. Northcutt, A. Athalye and J. Mueller. Pervasive label errors in test sets destabilize machine "
            "learning benchmarks. In NeurIPS Datasets and Benchmarks, 2021.",
            "R. Socher, A. Perelygin, J. Wu et al. Recursive deep models for semantic compositionality over a "
            "sentiment treebank. In EMNLP, 2013.",
        ],
        appendix=[
            ("Guideline Excerpts", [
                "Label the opinion of the author about the reviewed item. If the author quotes someone else, ignore "
                "the quoted opinion unless the author endorses it. If the review compares the item to another "
                "product, label only the opinion about the reviewed item. If the review is sarcastic, label the "
                "intended opinion, not the literal wording, and tick the sarcasm box. If the review praises some "
                "aspects and criticises others, weigh them as the author appears to, and tick the mixed box when no "
                "side clearly dominates.",
            ]),
        ],
    ),
    # 3 ------------------------------------------------------------------------------------------------
    dict(
        slug="federated-asr-low-rank",
        title="Federated Speech Recognition with Low-Rank Gradient Compression",
        authors=["Karim Haddad", "Louise Marchetti", "Jun Watanabe"],
        affiliation="Speech and Audio Group, Polytechnic University of Milan",
        year=2024, columns=1,
        abstract=(
            "Training speech recognizers on user devices keeps audio private but makes the upload of model "
            "updates the main cost. We compress each client's update by projecting its gradients onto a "
            "low-rank subspace that is refreshed periodically from the server's model. The method needs no "
            "error-feedback state on the device and composes with secure aggregation. In simulation it reduces "
            "upload traffic by more than an order of magnitude with a small loss in word error rate."
        ),
        sections=[
            ("Introduction", [
                "Speech recognition models improve with data from the people who use them, but recordings of "
                "everyday speech are among the most sensitive data a device holds. Federated learning lets each "
                "device compute a model update on its own audio and send only the update to a server, which "
                "averages the updates of many devices. For a speech recognizer with tens of millions of "
                "parameters, however, the update is tens of megabytes, and sending it over a mobile uplink every "
                "round is the dominant cost of training.",
                "Gradient compression methods such as quantization and top-k sparsification reduce this cost, "
                "but the strong ones keep an error-feedback buffer of the size of the model on every device, "
                "which many phones cannot spare, and sparse updates do not combine with secure aggregation, "
                "which needs updates of a fixed dense shape. We instead project every weight matrix's gradient "
                "onto a low-rank subspace shared by all clients in a round, so that an update is a small dense "
                "matrix that secure aggregation can sum.",
            ]),
            ("Related Work", [
                "Federated learning for speech has been studied both for keyword spotting and for full recognizers, "
                "and several studies report that the accuracy of federated recognizers approaches that of centrally "
                "trained ones when enough rounds are run. Communication cost is the recurring obstacle, and most "
                "work on it comes from image classification.",
                "Compression methods fall into three groups: quantization of updates to a few bits per value, "
                "sparsification that sends only the largest entries, and low-rank methods that send factors of the "
                "update matrices. PowerSGD (Vogels et al., 2019) computes low-rank factors with a power iteration "
                "and relies on error feedback to stay accurate. Our method differs in that the subspace is computed "
                "on the server and shared by all clients, which makes the uploaded projections directly summable "
                "under secure aggregation and removes the need for state on the device.",
            ]),
            ("Method", [
                "For a weight matrix W of shape m by n the server computes, from the current global model, an "
                "orthonormal basis P of shape m by r, the top singular vectors of the accumulated server update "
                "of the previous rounds. A client computes its gradient G as usual and uploads only the "
                "projection of G onto P, a matrix of shape r by n. The server sums the projections of all "
                "clients, maps the sum back with P, and applies it with its own optimizer.",
                "All experiments project onto a rank of 8 unless stated otherwise, and the basis is refreshed "
                "every 50 rounds, when the server sends the new basis along with the model. Between refreshes "
                "the basis is fixed, so a client never has to run a decomposition on the device. Biases, "
                "normalization parameters and the embedding of the output vocabulary are uploaded uncompressed; "
                "together they are less than 2% of the parameters.",
                "Because the projection is linear, it commutes with the summation of secure aggregation, and "
                "the server never sees an individual client's projected gradient. No state is kept on the "
                "device between rounds.",
            ]),
            ("Experimental Setup", [
                "We simulate federated training of a Conformer transducer with 31M parameters on the 960-hour "
                "LibriSpeech training set, partitioned by speaker into a pool of 2,400 simulated devices, so "
                "that every device holds the speech of one person. Each round samples 120 clients, and each "
                "client runs one local epoch over its utterances with a batch of 16 utterances.",
                "The simulation ran on 8 NVIDIA A100 GPUs and took 6 days for the full schedule of 2,000 rounds. "
                "We report word error rate on the test-clean and test-other sets and the total number of bytes "
                "uploaded by all clients over training.",
            ]),
            ("Results", [
                "With a rank of 8, the clients upload 37x fewer bytes than with uncompressed updates, while the "
                "word error rate on test-clean rises from 3.9 to 4.2 and on test-other from 9.1 to 9.8. The "
                "compressed model also converges in the same number of rounds as the uncompressed one, so the "
                "saving in traffic is not paid back with a longer schedule.",
                "The rank trades traffic against accuracy. A rank of 4 doubles the saving but raises the "
                "test-clean word error rate to 4.9, while a rank of 16 brings it down to 4.0 at a reduction of "
                "only 19x. Refreshing the basis less often, every 200 rounds, costs 0.4 points of word error rate "
                "on test-other, because the subspace drifts away from the directions the model is moving in.",
                "Compared with top-k sparsification at the same traffic, the low-rank updates reach a lower "
                "error rate and, unlike top-k, need no error-feedback buffer on the device.",
            ]),
            ("Analysis", [
                "Why does a fixed subspace work at all? The accumulated server update of a speech recognizer has a "
                "rapidly decaying spectrum: in our runs the top eight singular directions of each weight matrix hold "
                "most of the energy of the update over the next fifty rounds. Clients differ in their gradients, but "
                "their gradients mostly lie in the span of these shared directions, so projecting onto them discards "
                "little.",
                "The subspace is less adequate early in training, when the model changes quickly. Using uncompressed "
                "updates for the first 100 rounds and compressing afterwards recovers a third of the gap in word "
                "error rate at a small cost in traffic, and we recommend such a warm-up when uplink capacity allows "
                "it.",
                "Low-rank compression also combines with quantization: quantizing the projected updates to 8 bits "
                "per value reduces traffic by another factor of four with no measurable change in word error rate.",
            ]),
            ("Limitations", [
                "Clients with very little speech are a problem: devices holding less than 2 minutes of audio "
                "produced gradients dominated by noise, and including them in every round made training "
                "diverge, so we excluded them from the pool. A real deployment would have to handle such "
                "devices, for example by weighting updates by the amount of audio behind them.",
                "Partitioning LibriSpeech by speaker gives a realistic number of clients but not a realistic "
                "diversity of accents, microphones and background noise; we have not studied how the rank "
                "needed depends on such heterogeneity.",
            ]),
        ],
        references=[
            "B. McMahan, E. Moore, D. Ramage et al. Communication-efficient learning of deep networks from "
            "decentralized data. In AISTATS, 2017.",
            "A. Gulati, J. Qin, C. Chiu et al. Conformer: convolution-augmented transformer for speech "
            "recognition. In Interspeech, 2020.",
            "T. Vogels, S. Karimireddy and M. Jaggi. PowerSGD: practical low-rank gradient compression for "
            "distributed optimization. In NeurIPS, 2019.",
            "V. Panayotov, G. Chen, D. Povey and S. Khudanpur. LibriSpeech: an ASR corpus based on public domain "
            "audio books. In ICASSP, 2015.",
        ],
        appendix=[
            ("Traffic Accounting", [
                "We count the bytes of every upload, including the uncompressed biases and normalization parameters, "
                "and exclude the downloads of the model and the basis, which in most mobile networks are cheaper "
                "than uploads. Secure aggregation adds a constant overhead per client that is the same for "
                "compressed and uncompressed updates and is not included in the reductions we report.",
            ]),
        ],
    ),
    # 4 ------------------------------------------------------------------------------------------------
    dict(
        slug="tabular-distillation",
        title="Distilling Tabular Foundation Models into Gradient-Boosted Trees",
        authors=["Sofia Lindqvist", "Rahul Menon"],
        affiliation="Data Science Lab, Chalmers Institute of Technology",
        year=2024, columns=2,
        abstract=(
            "Transformer models pre-trained on synthetic tabular tasks now match or beat tuned tree ensembles "
            "on small datasets, but they are slow at inference and hard to deploy in existing pipelines. We "
            "distill such a model into an ordinary gradient-boosted ensemble by training the trees on the "
            "teacher's predicted class probabilities over real and augmented rows. The distilled ensembles keep "
            "most of the teacher's accuracy while running at the speed of the trees they replace. We also "
            "characterize when distillation fails."
        ),
        sections=[
            ("Introduction", [
                "For years tree ensembles were the method of choice for tabular classification. Recently, "
                "transformers pre-trained on millions of synthetic tabular tasks have changed the picture on "
                "small datasets: given a training set as context, such a model predicts the labels of test rows "
                "in one forward pass, with no tuning, and often more accurately than a tuned ensemble.",
                "In production, however, these models are awkward. Every prediction attends over the whole "
                "training set, inference needs an accelerator to be fast, and the model does not fit into "
                "scoring pipelines built around tree ensembles. We ask whether the accuracy of the transformer "
                "can be moved into an ensemble of ordinary trees by distillation.",
            ]),
            ("Related Work", [
                "Knowledge distillation trains a small student model to match the outputs of a large teacher (Hinton "
                "et al., 2015). It is most often used to compress neural networks into smaller neural networks, but "
                "distilling neural networks into decision trees has a long history in work on interpretability, "
                "where a single tree mimics a network to explain it.",
                "Tree ensembles have remained strong on tabular data, and benchmarks comparing them with deep "
                "networks found trees ahead on medium-sized datasets (Grinsztajn et al., 2022). Transformers "
                "pre-trained on synthetic tasks changed this on small datasets. Our work does not compete with "
                "either family but moves the teacher's accuracy into the format practitioners already deploy.",
                "Data augmentation for distillation has been used in vision and language, where unlabeled or "
                "synthetic inputs let the teacher transfer more of its function. For tables, interpolation between "
                "rows is a natural choice, and we find it sufficient.",
            ]),
            ("Method", [
                "The teacher is a pre-trained tabular transformer used as published. Given the real training "
                "rows as context, it predicts class probabilities for every training row, by cross-fitting so "
                "that a row is never in its own context, and for a set of augmented rows.",
                "Augmented rows are made by interpolating between a real row and one of its five nearest "
                "neighbours of the same class, with categorical features copied from either parent at random. "
                "We create 5 augmented rows per real row. The augmented rows carry no true label; their only "
                "target is the teacher's soft prediction, which is where the distillation signal comes from.",
                "The student is an XGBoost ensemble of 500 trees with a maximum depth of 6, trained with the "
                "cross-entropy between its predicted probabilities and the teacher's. We use the same student "
                "configuration on every dataset and do not tune it, since the point of the method is to avoid "
                "per-dataset tuning.",
            ]),
            ("Experimental Setup", [
                "We evaluate on 48 classification datasets from OpenML with at most 10,000 rows and at most 100 "
                "numerical or categorical features, the regime in which the teacher was pre-trained. Each "
                "dataset is split ten times into training and test sets, and we report the mean ROC AUC over "
                "splits and datasets, with one-vs-rest averaging for multi-class tasks.",
                "The baselines are the teacher itself, the same XGBoost configuration trained on the true hard "
                "labels, and an XGBoost ensemble tuned per dataset with 100 rounds of random search.",
            ]),
            ("Results", [
                "The teacher reaches a mean ROC AUC of 0.893 and the distilled student 0.887, while the same "
                "trees trained on hard labels reach 0.871 and the tuned ensemble 0.878. Distillation thus closes "
                "about three quarters of the gap between untuned trees and the teacher, without any tuning.",
                "On a single CPU core the distilled student predicts 140 times faster than the teacher running "
                "on the same core, and its predictions can be served by any existing tree scoring library.",
                "Both parts of the training signal matter. Without augmented rows, training the student on the "
                "teacher's probabilities for the real rows alone gives a mean ROC AUC of 0.876. Training on "
                "augmented rows with hard labels taken from the teacher's most likely class instead of its "
                "probabilities gives 0.879, so soft targets account for about a point of the gain.",
            ]),
            ("Analysis", [
                "Where does the student gain over trees trained on hard labels? We split the test rows of each "
                "dataset by the teacher's confidence. On rows where the teacher is confident, all methods agree and "
                "the student gains little. On rows where the teacher's probability for the true class lies between "
                "0.3 and 0.7, the student is markedly better calibrated than the hard-label trees, and most of its "
                "gain in ROC AUC comes from these rows.",
                "The augmented rows also regularise the trees. Without them, a student with the same number of trees "
                "fits the soft targets of the real rows closely and generalises less well, and limiting the depth "
                "does not fully compensate.",
                "Finally, the student is insensitive to the exact number of augmented rows above a few per real row; "
                "doubling them brings no further gain and doubles training time.",
            ]),
            ("When Distillation Fails", [
                "Distillation helps little when the teacher itself is weak. On datasets with more than 50 "
                "features the teacher's advantage over tuned trees disappears and so does the student's. On "
                "multi-class tasks with more than ten classes the student sometimes falls below the tree "
                "baseline, because the soft targets of rare classes are poorly estimated from few examples.",
                "We have studied classification only; regression targets would need a different augmentation, "
                "since interpolated rows can have targets outside the range of their parents.",
            ]),
            ("Conclusion", [
                "Tabular foundation models are accurate on small datasets but awkward to deploy. Distillation into "
                "an ordinary gradient-boosted ensemble keeps most of their accuracy and none of their deployment "
                "problems: the student runs wherever trees run, at their speed, and can be inspected with the usual "
                "tools for tree ensembles, such as feature importances and partial dependence plots.",
                "The recipe is simple. Predict soft labels for the real rows by cross-fitting, create augmented rows "
                "by interpolating between neighbours of the same class, and fit a fixed tree configuration to the "
                "teacher's probabilities on both. It needs no tuning per dataset, which matters because tuning was "
                "the main advantage the teacher had over trees in the first place.",
                "We see two directions for future work: regression, which needs an augmentation that respects the "
                "range of the target, and larger datasets, where the teacher itself must first be extended beyond "
                "the size of context it can read.",
            ]),
        ],
        references=[
            "N. Hollmann, S. Mueller, K. Eggensperger and F. Hutter. TabPFN: a transformer that solves small "
            "tabular classification problems in a second. In ICLR, 2023.",
            "T. Chen and C. Guestrin. XGBoost: a scalable tree boosting system. In KDD, 2016.",
            "G. Hinton, O. Vinyals and J. Dean. Distilling the knowledge in a neural network. arXiv preprint, "
            "2015.",
            "L. Grinsztajn, E. Oyallon and G. Varoquaux. Why do tree-based models still outperform deep "
            "learning on tabular data? In NeurIPS Datasets and Benchmarks, 2022.",
        ],
        appendix=[
            ("Dataset Selection", [
                "We took every OpenML classification dataset that meets the size limits, has no missing target "
                "values and is not a near-duplicate of another selected dataset, as judged by identical feature "
                "names and row counts. Datasets used in the pre-training validation of the teacher were excluded to "
                "avoid optimistic results.",
            ]),
        ],
    ),
    # 5 ------------------------------------------------------------------------------------------------
    dict(
        slug="energy-proportional-scheduling",
        title="Energy-Proportional Scheduling of Inference Jobs on Shared GPU Clusters",
        authors=["Elena Petrov", "Marcus Adeyemi", "Chen Yu"],
        affiliation="Systems Research Group, ETH Zurich",
        year=2023, columns=2,
        abstract=(
            "Clusters that serve many models keep most accelerators powered even when traffic is low. We "
            "present a scheduler that packs inference jobs onto fewer devices when load drops and lowers the "
            "clock of the devices that stay busy, subject to per-model latency objectives. It predicts the load "
            "of each model a few minutes ahead and moves replicas before objectives are violated. In a "
            "trace-driven evaluation the scheduler saves a substantial share of the cluster's energy while "
            "meeting latency objectives for nearly all requests."
        ),
        sections=[
            ("Introduction", [
                "Inference now consumes more accelerator time than training in many organisations, and unlike "
                "training it follows the daily rhythm of its users. A cluster provisioned for the evening peak "
                "sits mostly idle at night, yet an idle accelerator still draws a large fraction of its peak "
                "power, and most serving systems keep every replica resident so that a burst of requests never "
                "waits for a model to load.",
                "We argue that serving clusters should be energy-proportional: their power draw should follow "
                "their load. Our scheduler pursues this with two mechanisms. It consolidates replicas onto fewer "
                "devices when load falls, so that the emptied devices can be put into a deep idle state, and it "
                "lowers the clock frequency of busy devices whenever the latency objective of every model on "
                "them leaves room to do so.",
            ]),
            ("Related Work", [
                "Energy-proportional computing (Barroso and Hoelzle, 2007) asked for servers whose power follows "
                "their utilisation. Processors have come closer to this goal than accelerators, whose idle power "
                "remains a large fraction of their peak. Work on the energy of deep learning has mostly targeted "
                "training: Zeus (You et al., 2023) tunes power limits and batch sizes of training jobs, and other "
                "work schedules training jobs into periods of cleaner electricity.",
                "Inference serving systems have focused on latency and cost. Clipper and Clockwork provide "
                "predictable latency for many models, and several systems share accelerators between models to raise "
                "utilisation. Autoscalers add and remove replicas with load, but they react to current load and "
                "rarely power devices down. Our scheduler combines consolidation, prediction and frequency scaling "
                "with the explicit goal of following load with power.",
            ]),
            ("Design", [
                "Every few seconds the scheduler collects the request rate and the observed latency of every "
                "model replica. A gradient-boosted forecaster predicts the request rate of each model with a "
                "5-minute horizon from the recent history and the time of day. From the forecast, a packing "
                "step chooses how many replicas each model needs and on which devices they run, minimising the "
                "number of powered devices subject to memory limits and to a predicted tail latency below the "
                "model's objective.",
                "Moving a replica means loading its weights on the new device before draining the old one. "
                "Migration took 11 s at the median and 29 s at the 95th percentile in our cluster, which is why "
                "the scheduler acts on forecasts rather than on the current load.",
                "Finally, a per-device controller sets the clock frequency. It lowers the clock in steps while "
                "the measured 99th-percentile latency of every model on the device stays below its objective "
                "with a safety margin, and raises it immediately when the margin is used up.",
            ]),
            ("Evaluation Setup", [
                "We evaluate on a cluster of 64 NVIDIA A10G GPUs spread over 16 servers, with power measured "
                "per device by the driver and per server at the power supply. Load is replayed from a "
                "three-week production trace with 1.2 million requests to 37 models, ranging from small "
                "text classifiers to image generators.",
                "Every model has a 99th-percentile latency objective of 250 ms, which is what the operators of "
                "the traced service use. We compare against a static allocation that keeps every device on, and "
                "against a reactive autoscaler that adds and removes replicas based on the current request rate.",
            ]),
            ("Results", [
                "Over the three weeks the scheduler uses 23% less energy than the always-on allocation and 9% "
                "less than the reactive autoscaler, while 99.6% of requests meet their latency objective. The "
                "reactive autoscaler meets the objective for 98.1% of requests, because it starts migrations only "
                "once the load has already risen.",
                "Consolidation contributes most of the saving at night, when up to 40 of the 64 devices are "
                "powered down; clock scaling contributes most during the day, when few devices can be emptied "
                "but many run below their peak load.",
            ]),
            ("Discussion", [
                "Consolidation and clock scaling pull in different directions. Packing more replicas onto a device "
                "raises its load and leaves less room to lower its clock, while spreading replicas out allows lower "
                "clocks but keeps more devices powered. In our cluster consolidation was worth more, because an idle "
                "device draws more power than the saving of a lower clock on a busy one, but on hardware with a "
                "lower idle power the balance may shift.",
                "Operators may also care about the number of migrations, since each one briefly doubles the memory a "
                "model occupies. Our scheduler limits migrations to one per model every ten minutes; relaxing this "
                "limit saved little additional energy in our trace.",
                "The forecaster's errors are asymmetric in their consequences. Over-forecasting wastes energy, "
                "under-forecasting violates objectives, so the scheduler plans for a high quantile of the forecast "
                "rather than its mean.",
            ]),
            ("Limitations", [
                "The scheduler relies on forecasts. Bursts that arrive with less than a minute of warning, "
                "such as a sudden spike caused by a news event, still violate objectives until a migration "
                "completes. We also account only for the energy of the servers themselves; cooling and power "
                "distribution, which scale with the servers' consumption in most data centres, are left out.",
            ]),
            ("Conclusion", [
                "Inference clusters need not draw peak power around the clock. By forecasting the load of every "
                "model, consolidating replicas onto fewer devices when load falls and lowering the clocks of busy "
                "devices within their latency margins, a scheduler can make a shared cluster's power follow its "
                "traffic while keeping latency objectives for nearly every request.",
                "The mechanisms are independent of the models served and require no change to them, only the ability "
                "to start a replica on another device and to set a device's clock. We believe that serving systems "
                "should expose energy as a first-class objective next to latency and cost, and that operators should "
                "report the energy their serving clusters use at low load, which is where most of the waste lies.",
                "Future work includes accounting for cooling, coordinating with training jobs that could absorb idle "
                "capacity at night, and forecasting bursts from external signals.",
            ]),
        ],
        references=[
            "L. Barroso and U. Hoelzle. The case for energy-proportional computing. IEEE Computer, 2007.",
            "D. Crankshaw, X. Wang, G. Zhou et al. Clipper: a low-latency online prediction serving system. In "
            "NSDI, 2017.",
            "J. You, J. Chung and M. Chowdhury. Zeus: understanding and optimizing GPU energy consumption of DNN "
            "training. In NSDI, 2023.",
            "A. Gujarati, R. Karimi, S. Alzayat et al. Serving DNNs like clockwork: performance predictability "
            "from the bottom up. In OSDI, 2020.",
        ],
    ),
    # 6 ------------------------------------------------------------------------------------------------
    dict(
        slug="code-review-rag",
        title="Retrieval-Augmented Generation of Code Review Comments",
        authors=["Olga Sokolova", "Benjamin Achterberg", "Ravi Subramanian"],
        affiliation="Software Engineering Research Lab, University of Waterloo",
        year=2024, columns=1,
        abstract=(
            "Writing useful review comments takes experienced engineers' time, and models that generate "
            "comments from the diff alone tend to produce generic remarks. We retrieve past comments written on "
            "similar changes in the same repository and condition a sequence-to-sequence model on them together "
            "with the diff. Automatic metrics and a study with professional developers both favour the "
            "retrieval-augmented model over a model that sees only the diff. We analyze which kinds of comments "
            "benefit most from retrieval."
        ),
        sections=[
            ("Introduction", [
                "Code review catches defects and spreads knowledge about a code base, but it is slow: a change "
                "often waits a day or more for its first comment. Models that generate review comments could "
                "shorten that wait, yet comments generated from the diff alone are frequently generic, asking "
                "for more tests or better names without saying which or why.",
                "Reviewers themselves rely on memory of earlier reviews: the same mistakes recur in a repository, "
                "and experienced reviewers recognise them. We give a model the same memory by retrieving the "
                "comments that reviewers wrote on similar past changes and feeding them to the generator "
                "together with the diff under review.",
            ]),
            ("Related Work", [
                "Automating code review has been approached as several tasks: predicting whether a change needs a "
                "comment, generating the comment, and generating the revised code that addresses it. Pre-trained "
                "models of code have improved all three (Tufano et al., 2022), but their comments are often judged "
                "less specific than human ones.",
                "Retrieval-augmented generation (Lewis et al., 2020) conditions a generator on retrieved documents "
                "and has been applied to code completion and code summarisation, where retrieving similar code from "
                "the same project helps the model use project-specific names. Review comments are a natural fit for "
                "retrieval because review knowledge is local: conventions, utility functions and recurring mistakes "
                "are specific to a repository and are written down in its past reviews.",
            ]),
            ("Data", [
                "We collected 310,000 review comments from 42 open-source Java repositories with an active "
                "review culture, together with the diff hunk each comment is attached to. Comments written by "
                "bots, comments shorter than four words and comments that only approve a change were removed. "
                "The data is split by time: comments from the last six months of each repository's history form "
                "the test set, so that retrieval can only see the past.",
            ]),
            ("Method", [
                "For a diff hunk under review, a BM25 retriever searches the earlier hunks of the same "
                "repository, and the comments attached to the top 4 hunks are retrieved. We found lexical "
                "retrieval to work as well as a dense retriever here, because recurring problems tend to involve "
                "the same identifiers and API calls.",
                "The generator is CodeT5-base with 220M parameters. Its input is the diff hunk followed by the "
                "retrieved comments, each prefixed with the hunk it was written on, truncated to 1,024 tokens in "
                "total. It was fine-tuned for 10 epochs with a batch size of 32 on the training split, and the "
                "checkpoint with the best BLEU on a validation split was kept. The diff-only baseline is the "
                "same model fine-tuned the same way without the retrieved comments.",
            ]),
            ("Evaluation", [
                "On automatic metrics the retrieval-augmented model improves BLEU from 8.1 to 10.6 and the "
                "exact match of the first sentence of the comment from 2.9% to 4.7%. These metrics reward "
                "surface overlap, so we also asked developers.",
                "Six professional developers, each with at least five years of experience reviewing Java code, "
                "rated 300 generated comments on changes from the test set, shown without saying which system "
                "wrote them. They judged 38% of the retrieval-augmented comments useful, against 21% of the "
                "diff-only ones. Agreement between the raters on usefulness was moderate, with a Krippendorff's "
                "alpha of 0.58.",
                "Retrieval helps most for comments about naming conventions and about the repository's own "
                "utility functions, where past comments state the convention directly. It helps least for "
                "comments about concurrency and resource handling, which depend on code outside the hunk.",
            ]),
            ("Qualitative Analysis", [
                "We read 100 comments generated for the test set with and without retrieval. Without retrieval, 41 "
                "of them were generic requests such as asking for a test or a comment in the code. With retrieval, "
                "the model often reused the wording of a past comment and adapted it to the new change, for example "
                "pointing to the repository's own helper for closing streams instead of a hand-written loop.",
                "Retrieval can also mislead. In 9 of the 100 cases the retrieved comment concerned a superficially "
                "similar change and the generated comment made no sense for the change under review. A simple filter "
                "that drops retrieved comments whose hunks share fewer than three identifiers with the hunk under "
                "review removed most of these cases without hurting the others.",
                "The developers in our study remarked that a useful comment names the problem and the fix. Retrieved "
                "comments help with both, because past reviewers usually wrote down the fix they wanted.",
            ]),
            ("Threats to Validity", [
                "The model sees one hunk at a time and has no cross-file context, so it cannot notice that a "
                "change breaks a caller in another file. Our repositories are all Java projects, and review "
                "habits in other ecosystems may differ. Finally, usefulness was judged by developers who did "
                "not know the repositories as well as their own maintainers do.",
            ]),
        ],
        references=[
            "A. Bacchelli and C. Bird. Expectations, outcomes, and challenges of modern code review. In ICSE, "
            "2013.",
            "Y. Wang, W. Wang, S. Joty and S. Hoi. CodeT5: identifier-aware unified pre-trained encoder-decoder "
            "models for code understanding and generation. In EMNLP, 2021.",
            "P. Lewis, E. Perez, A. Piktus et al. Retrieval-augmented generation for knowledge-intensive NLP "
            "tasks. In NeurIPS, 2020.",
            "R. Tufano, S. Masiero, A. Mastropaolo et al. Using pre-trained models to boost code review "
            "automation. In ICSE, 2022.",
        ],
        appendix=[
            ("Rating Instructions", [
                "Raters saw the diff hunk, the surrounding file and one generated comment at a time, in random "
                "order, and answered whether they would find the comment useful if a colleague had written it on "
                "their change. They could also mark a comment as wrong, when it asserted something false about the "
                "code, and as generic, when it would fit almost any change.",
            ]),
        ],
    ),
    # 7 ------------------------------------------------------------------------------------------------
    dict(
        slug="protein-curriculum-masking",
        title="Curriculum Masking for Protein Language Models",
        authors=["Ingrid Solberg", "Mateo Alvarez", "Yuki Tanaka"],
        affiliation="Centre for Computational Biology, University of Oslo",
        year=2024, columns=2, arxiv="arXiv:2402.06519v2 [q-bio.BM] 14 Feb 2024",
        abstract=(
            "Protein language models are pre-trained with a masked-token objective at a fixed masking rate "
            "borrowed from natural language. We show that starting with few masked residues and increasing the "
            "rate during training gives representations that transfer better to structure-related tasks. The "
            "schedule adds no cost to pre-training and needs no change to the architecture. Gains are largest "
            "for contact prediction and remain for secondary structure and stability prediction."
        ),
        sections=[
            ("Introduction", [
                "Protein language models learn from sequences alone, by predicting masked amino acids from their "
                "context. Almost all of them mask 15% of the residues, the rate chosen for text encoders, even "
                "though proteins differ from text in alphabet, length and the range of their dependencies.",
                "A fixed rate makes the task equally hard from the first step to the last. Early in training a "
                "model cannot yet use long-range context, and a high rate mostly adds noise; late in training a "
                "low rate makes the task too easy to force the model to learn the couplings between distant "
                "residues that determine structure. We therefore let the rate grow during training.",
            ]),
            ("Related Work", [
                "Protein language models such as ESM (Rives et al., 2021) are trained with the masked-token "
                "objective of text encoders and have become standard feature extractors for structure and function "
                "prediction. Their contact maps can be read out of the attention weights with a simple linear model, "
                "which makes contact prediction a convenient probe of how much structural information a model has "
                "learned.",
                "For text, the masking rate has been revisited: a rate higher than 15% can be better for large "
                "models (Wettig et al., 2023), and masking whole spans or salient words changes what is learned. "
                "Curriculum learning (Bengio et al., 2009) orders training examples from easy to hard. Our schedule "
                "is a curriculum over the difficulty of the prediction task rather than over examples, and to our "
                "knowledge it has not been applied to protein models.",
            ]),
            ("Curriculum", [
                "The masking rate is increased linearly from 5% to 30% over the first 200,000 steps and held at "
                "30% for the remaining steps, out of 500,000 steps in total. Masked positions are chosen "
                "uniformly at random, and, as usual, 80% of them are replaced by a mask token, 10% by a random "
                "amino acid and 10% left unchanged.",
                "We also tried a schedule based on the model's own loss, which raises the rate whenever the "
                "validation loss stops improving. It behaved like the linear schedule but was harder to "
                "reproduce, so we report the linear one.",
            ]),
            ("Pre-training", [
                "The model is a transformer encoder with 150 million parameters, 30 layers and rotary position "
                "embeddings, trained on UniRef50 sequences cropped to 1,024 residues. Pre-training ran on 16 TPU "
                "v4 chips for 9 days with a batch of 2 million tokens per step. The baseline is the same model "
                "trained for the same number of steps with the standard fixed rate of 15%.",
            ]),
            ("Results", [
                "For contact prediction we train a logistic regression on the attention maps of the frozen "
                "model and report the precision of the top L/5 predicted long-range contacts, where L is the "
                "sequence length. The curriculum raises this precision from 0.412 to 0.433. Secondary structure "
                "accuracy rises by 0.8 points and the correlation of predicted and measured stability by 0.02.",
                "The direction of the schedule matters. Running the curriculum backwards, from 30% down to 5%, "
                "lowers contact precision to 0.398, below the fixed-rate baseline. A fixed rate of 30% from the "
                "start gives 0.405: a high rate helps only after the model has learned local structure at a "
                "low one.",
                "Perplexity on held-out sequences is slightly worse with the curriculum, because the final "
                "model was trained mostly at a higher masking rate than the one used for evaluation, which is "
                "15%. Perplexity is therefore a poor guide for choosing a masking schedule.",
            ]),
            ("What the Curriculum Changes", [
                "To understand the gain, we compared attention maps of the two models. Heads of the curriculum model "
                "attend more to residues that are far apart in sequence but close in space, and the number of heads "
                "whose attention predicts contacts with a precision above 0.3 is larger by a third. The fixed-rate "
                "model's heads are more often local, attending to the neighbouring few residues.",
                "One explanation is that a high masking rate removes the local context a model could otherwise copy "
                "from, so it must fall back on distant residues, and that a model learns to use distant residues "
                "only once it has a good model of local structure. The curriculum provides exactly this order. "
                "Consistent with this account, the backwards schedule produces the most local attention of all the "
                "models we trained.",
                "The curriculum does not slow training down: the loss curves of the two models cross early, and at "
                "equal wall-clock time the curriculum model is ahead on contact precision throughout.",
            ]),
            ("Limitations", [
                "We trained models of one size only. Whether the benefit persists for much larger models is "
                "open; we have not tested it above 650M parameters, where a single pilot run showed a smaller "
                "gain in contact precision. The schedule's end points were chosen on a validation set of "
                "contact maps and may need to be tuned again for other tasks.",
            ]),
            ("Conclusion", [
                "A single change to the pre-training recipe of protein language models, letting the masking rate "
                "grow from few to many masked residues, improves the structural information in their representations "
                "at no extra cost. The gain is largest for contact prediction, the task most directly tied to "
                "long-range couplings between residues, and it comes from heads that attend to residues far apart in "
                "sequence.",
                "The direction of the schedule is essential, which supports the view that a model must learn local "
                "structure before it can profit from a harder, more global prediction task. We expect the same "
                "principle to apply to other biological sequences, such as RNA and genomic DNA, whose statistics "
                "also differ from those of text, and we release the training code and the schedule so that others "
                "can test it.",
                "A systematic study across model sizes is the most important next step, together with schedules that "
                "adapt the rate to the model's progress without the reproducibility problems we met.",
            ]),
        ],
        references=[
            "A. Rives, J. Meier, T. Sercu et al. Biological structure and function emerge from scaling "
            "unsupervised learning to 250 million protein sequences. PNAS, 2021.",
            "Z. Lin, H. Akin, R. Rao et al. Evolutionary-scale prediction of atomic-level protein structure "
            "with a language model. Science, 2023.",
            "Y. Bengio, J. Louradour, R. Collobert and J. Weston. Curriculum learning. In ICML, 2009.",
            "A. Wettig, T. Gao, Z. Zhong and D. Chen. Should you mask 15% in masked language modeling? In EACL, "
            "2023.",
        ],
        appendix=[
            ("Probe Details", [
                "The contact probe is a logistic regression on the symmetrised, row-normalised attention maps of all "
                "heads and layers, trained on 20 proteins and evaluated on a held-out set of proteins with low "
                "sequence identity to the training proteins. Long-range contacts are residue pairs at least 24 "
                "positions apart whose C-beta atoms are within 8 angstrom.",
            ]),
        ],
    ),
    # 8 ------------------------------------------------------------------------------------------------
    dict(
        slug="table-qa-schema-perturbation",
        title="Robust Table Question Answering under Schema Perturbations",
        authors=["Fatima Zahra Benali", "Peter Lindgren"],
        affiliation="Department of Informatics, University of Edinburgh",
        year=2023, columns=1,
        abstract=(
            "Table question answering models are evaluated on tables whose column names match the wording of "
            "the questions. We build a benchmark that perturbs the schema of the test tables, renaming, "
            "reordering, splitting and merging columns and adding distractor columns, while keeping the answers "
            "unchanged. State-of-the-art models lose much of their accuracy under these perturbations, most of "
            "all under renaming. A simple training-time augmentation recovers part of the loss."
        ),
        sections=[
            ("Introduction", [
                "A question such as which country has the largest population usually comes with a table that "
                "has a column called Population. Benchmarks for table question answering are built this way, "
                "because annotators write questions while looking at the table, and their wording follows the "
                "column names. Real tables are less obliging: the same column may be called Inhabitants, Pop. "
                "or Residents, it may be split into two columns by year, and it may sit among dozens of columns "
                "that have nothing to do with the question.",
                "We measure how much current models rely on the lexical match between question and schema. We "
                "perturb the schema of benchmark tables in ways that keep every answer the same and compare "
                "accuracy before and after.",
            ]),
            ("Related Work", [
                "Table question answering has been approached with semantic parsing into logical forms or SQL, and "
                "more recently with models that read a linearised table and generate the answer directly (Herzig et "
                "al., 2020). Pre-training on tables and text improved accuracy on benchmarks such as "
                "WikiTableQuestions (Pasupat and Liang, 2015).",
                "Robustness of text-to-SQL parsers to paraphrased questions and to schema changes has been studied "
                "before, and those studies found that parsers rely heavily on the lexical overlap between question "
                "and column names. We extend this line to models that answer from the table content, and we cover "
                "perturbations that change the structure of the table, not only its names.",
            ]),
            ("Benchmark Construction", [
                "Our benchmark has 2,900 question and table pairs drawn from the development set of "
                "WikiTableQuestions. For each pair we apply five types of perturbation: renaming columns with "
                "synonyms or abbreviations, reordering columns, splitting a column into two, merging two columns "
                "into one, and adding distractor columns with plausible names and values.",
                "Synonyms for renaming were taken from a thesaurus and then checked by hand, since many "
                "thesaurus synonyms do not fit a column header. Every perturbed table was verified by two of "
                "the authors to still support the original answer; pairs for which a perturbation changed the "
                "answer or made the question ambiguous were discarded.",
            ]),
            ("Models and Training", [
                "We evaluate a T5-large model fine-tuned on the training set of WikiTableQuestions with "
                "linearised tables as input, a table-specific pre-trained encoder, and a large instruction-tuned "
                "language model prompted with the table in Markdown. We report exact match of the predicted "
                "answer against the gold answer.",
                "The augmentation we propose is applied only at training time: every training table is "
                "perturbed with a random subset of the five perturbation types, with renaming drawn from a "
                "different synonym list than the one used for the benchmark, so that the model cannot learn the "
                "test synonyms.",
            ]),
            ("Results", [
                "Renaming is by far the most damaging perturbation. It lowers the exact match of the fine-tuned "
                "T5 model by 11.3 points, from 49.8 to 38.5. Adding distractor columns costs 4.6 points, "
                "splitting and merging columns between 2 and 3 points, and reordering columns only 0.9 points, "
                "which shows that the models do not depend on the position of the relevant column.",
                "The prompted language model is more robust to renaming, losing 5.2 points, but it is hurt more "
                "by distractor columns, apparently because long tables push the relevant cells far apart in its "
                "input.",
                "Training with augmentation recovers 7.8 of the 11.3 points lost under renaming, and it costs "
                "0.4 points on the original unperturbed tables. Most of the remaining loss comes from "
                "abbreviations that a human reader decodes from the values in the column, such as Pop. for a "
                "column of large integers.",
            ]),
            ("Error Analysis", [
                "We inspected 200 errors of the fine-tuned model under renaming. In about half of them the model "
                "chose a column whose original name overlapped with the question, now a distractor of similar "
                "meaning. In a quarter the renamed column was an abbreviation that the model did not connect to the "
                "question at all. The rest were errors the model also made on the original table.",
                "Under splitting, most errors came from questions that need both halves of a split column, such as a "
                "total over two years. The model usually answered from one half, which suggests that it selects a "
                "single column before it computes.",
                "Models that read the table as Markdown were hurt less by reordering and splitting but more by "
                "distractor columns, which lengthen the input; truncation of long tables accounts for part of this.",
            ]),
            ("Limitations", [
                "All our questions and tables are in English, and we consider single-table questions only; "
                "questions that require joining several tables would add perturbations of the relations "
                "between tables, which we leave for future work.",
            ]),
        ],
        references=[
            "P. Pasupat and P. Liang. Compositional semantic parsing on semi-structured tables. In ACL, 2015.",
            "J. Herzig, P. Nowak, T. Mueller et al. TaPas: weakly supervised table parsing via pre-training. In "
            "ACL, 2020.",
            "C. Raffel, N. Shazeer, A. Roberts et al. Exploring the limits of transfer learning with a unified "
            "text-to-text transformer. JMLR, 2020.",
            "X. Deng, H. Sun, A. Lees et al. TURL: table understanding through representation learning. In "
            "VLDB, 2021.",
        ],
        appendix=[
            ("Perturbation Examples", [
                "Renaming turns Population into Inhabitants, Year into Season, Nation into Country. Splitting turns "
                "a Score column into Home Score and Away Score. Merging joins City and Country into Location. "
                "Distractor columns add, for a table of athletes, a column of shirt numbers and a column of coaches "
                "with plausible values drawn from other tables of the same domain.",
            ]),
        ],
    ),
    # 9 ------------------------------------------------------------------------------------------------
    dict(
        slug="mixture-of-adapters-mt",
        title="Sparse Mixture-of-Adapters for Multilingual Machine Translation",
        authors=["Amara Nwosu", "Julien Moreau", "Sven Karlsson"],
        affiliation="Language Technologies Institute, University of Helsinki",
        year=2023, columns=2, note="Preprint. Work in progress.",
        abstract=(
            "Adapters make it cheap to extend a pre-trained translation model to new language pairs, but a "
            "separate adapter per pair shares nothing between related languages. We replace per-pair adapters "
            "with a pool of adapter experts and a router that picks a few of them for every token. Related "
            "languages learn to share experts without supervision, which helps low-resource pairs most. The "
            "approach adds a small number of parameters to the base model and keeps inference cost close to "
            "that of a single adapter."
        ),
        sections=[
            ("Introduction", [
                "Multilingual translation models cover many languages with one set of weights, but adding a "
                "language or improving a weak one by fine-tuning the whole model risks degrading the others. "
                "Adapters, small bottleneck layers inserted into a frozen model, avoid this, and the common "
                "recipe trains one adapter for every language pair.",
                "Per-pair adapters, however, cannot share what related languages have in common. A Galician "
                "adapter learns nothing from the Portuguese one, although the two languages are close. We let "
                "adapters be shared by routing: every layer holds a pool of adapter experts, and a learned "
                "router sends each token to a few of them.",
            ]),
            ("Related Work", [
                "Adapters were introduced for transfer learning in language understanding (Houlsby et al., 2019) and "
                "soon applied to translation, where language-pair adapters extend a multilingual model to new "
                "directions cheaply (Bapna and Firat, 2019). Language-family adapters share one adapter among "
                "related languages, but they require the families to be chosen by hand.",
                "Sparse mixture-of-experts layers (Shazeer et al., 2017) route every token to a few experts and have "
                "been used to scale translation models to hundreds of languages. They are usually trained together "
                "with the whole model. Mixtures of adapters bring routing to parameter-efficient fine-tuning: the "
                "base model stays frozen and only small experts and routers are learned, so the cost of extending "
                "the model stays close to that of ordinary adapters.",
            ]),
            ("Model", [
                "Each transformer layer of the frozen base model is followed by a mixture of 16 adapter "
                "experts, each a bottleneck of dimension 64 with a residual connection. A linear router scores "
                "the experts for every token, and top-2 routing sends the token through the two best experts, "
                "whose outputs are averaged with the router's weights.",
                "To keep experts from collapsing onto a few favourites we add the usual load-balancing loss, "
                "which penalises uneven expert usage within a batch, with a coefficient of 0.01. The router "
                "receives no information about the language pair; sharing between languages has to emerge from "
                "the tokens themselves.",
            ]),
            ("Training Setup", [
                "We train on 24 language pairs, all translating into or out of English, from publicly available "
                "parallel corpora. Eight of the pairs are low-resource, with fewer than 100,000 sentence pairs "
                "each. Only the adapters and routers are trained, with Adam at a learning rate of 5e-4 for "
                "40,000 steps and batches of 8,000 tokens; the base model stays frozen. The baseline trains "
                "one adapter per pair with the same total number of adapter parameters.",
            ]),
            ("Results", [
                "On the eight low-resource pairs the mixture improves BLEU by 1.4 points on average over "
                "per-pair adapters, and on the high-resource pairs by 0.2 points, a difference within the noise "
                "of the test sets. The largest gains are for pairs with a closely related high-resource "
                "language, such as Galician with Portuguese and Slovak with Czech.",
                "Inspecting the routers shows that related languages indeed share experts: Romance languages "
                "route most of their tokens through the same four experts in the middle layers, while the top "
                "layers specialise by target language.",
                "The load-balancing loss is essential. Without it, 5 experts receive 80% of tokens, and the "
                "low-resource gain shrinks to 0.5 BLEU, because the pairs that need shared capacity end up "
                "competing for the same overloaded experts.",
            ]),
            ("Analysis of Routing", [
                "We measured, for every pair of languages, how similar their distributions over experts are in each "
                "layer. In the lower layers similarity follows the script: languages written in the same script "
                "share experts, whatever their family. In the middle layers it follows the family, and Romance, "
                "Slavic and Germanic languages form clear groups. In the top layers it follows the target language.",
                "This pattern suggests that the router discovers on its own the grouping that language-family "
                "adapters impose by hand, and that it can choose a different grouping in each layer. Forcing a fixed "
                "grouping by family in all layers gave a smaller gain than learned routing in our experiments.",
                "Routing adds little cost. With top-2 routing and small experts, the extra computation per token is "
                "about twice that of a single adapter, which is negligible next to the frozen base model.",
            ]),
            ("Limitations", [
                "Sharing does not help languages that have no related language in the training set. Amharic "
                "and Tigrinya, which are related to each other but whose script the base model saw very little "
                "of in pre-training, did not benefit at all, and their tokens were spread almost uniformly over "
                "the experts. Extending the vocabulary of the base model may be needed first for such "
                "languages.",
            ]),
            ("Conclusion", [
                "Replacing one adapter per language pair with a shared pool of routed adapter experts lets related "
                "languages share capacity without being told which languages are related. Low-resource pairs gain "
                "most, high-resource pairs lose nothing, and the cost of extending the model stays close to that of "
                "ordinary adapters. The router's choices are interpretable: they follow script in the lower layers, "
                "family in the middle layers and target language at the top.",
                "Two lessons carry over to other uses of adapter mixtures. A balancing loss is needed to keep "
                "experts from collapsing, and the benefit depends on the training set containing relatives of the "
                "languages that need help. Where no relative exists, the mixture behaves like a set of independent "
                "adapters.",
                "We plan to study many-to-many directions that do not pass through English, where sharing between "
                "source and target languages could matter even more, and to combine the mixture with vocabulary "
                "extension for languages in under-represented scripts.",
            ]),
        ],
        references=[
            "A. Bapna and O. Firat. Simple, scalable adaptation for neural machine translation. In EMNLP, 2019.",
            "N. Shazeer, A. Mirhoseini, K. Maziarz et al. Outrageously large neural networks: the sparsely-gated "
            "mixture-of-experts layer. In ICLR, 2017.",
            "N. Houlsby, A. Giurgiu, S. Jastrzebski et al. Parameter-efficient transfer learning for NLP. In "
            "ICML, 2019.",
            "NLLB Team. No language left behind: scaling human-centered machine translation. arXiv preprint, "
            "2022.",
        ],
        appendix=[
            ("Language Pairs", [
                "The high-resource pairs are English with French, German, Spanish, Portuguese, Italian, Russian, "
                "Czech, Polish, Chinese, Japanese, Arabic, Turkish, Hindi, Dutch, Swedish and Greek. The "
                "low-resource pairs are English with Galician, Slovak, Catalan, Belarusian, Icelandic, Maltese, "
                "Amharic and Tigrinya.",
            ]),
            ("Evaluation Protocol", [
                "BLEU is computed with sacreBLEU on detokenised output with the default tokenizer, except for "
                "Chinese and Japanese, for which the character-level tokenizers of sacreBLEU are used. Each system "
                "is trained with three random seeds, and we report the mean; differences of the size we discuss for "
                "the low-resource pairs are larger than the spread between seeds, while the differences on "
                "high-resource pairs are not. Test sets are the official test sets of each pair where they exist and "
                "held-out portions of the training corpora otherwise, with sentences that also occur in the training "
                "data removed.",
            ]),
        ],
    ),
    # 10 -----------------------------------------------------------------------------------------------
    dict(
        slug="spiking-event-flow",
        title="Spiking Recurrent Networks for Event-Camera Optical Flow on Neuromorphic Hardware",
        authors=["Lukas Brandt", "Ana Carolina Souza", "Wei Zhang"],
        affiliation="Institute of Neuroinformatics, University of Zurich",
        year=2024, columns=1,
        abstract=(
            "Event cameras report brightness changes asynchronously, which suits spiking neural networks that "
            "compute only when input arrives. We train a recurrent spiking network to estimate optical flow "
            "from event streams with surrogate gradients and deploy it without conversion on a neuromorphic "
            "processor. The network approaches the accuracy of a conventional recurrent network of similar size "
            "while using a small fraction of its energy. We report where the spiking model breaks down."
        ),
        sections=[
            ("Introduction", [
                "An event camera does not capture frames. Each pixel reports, independently and with "
                "microsecond timing, when the brightness it sees changes by more than a threshold. The "
                "resulting stream of events is sparse when the scene is still and dense when it moves, which "
                "makes event cameras attractive for robots and drones that must react quickly on a small power "
                "budget.",
                "Most methods that estimate optical flow from events nonetheless accumulate them into frames "
                "and process the frames with a conventional network on a graphics processor, giving up the "
                "sparsity of the input. Spiking networks keep it: a neuron computes only when a spike arrives. "
                "We show that a recurrent spiking network trained end to end can estimate flow almost as well "
                "as a conventional one and run directly on neuromorphic hardware.",
            ]),
            ("Related Work", [
                "Optical flow from events has been estimated with model-based methods that maximise the contrast of "
                "motion-compensated events and with learned methods that process event frames or voxel grids with "
                "convolutional and recurrent networks (Gallego et al., 2022). Recurrent networks that carry state "
                "across windows are currently the most accurate learned methods.",
                "Spiking networks for flow have been proposed before, often as hybrids in which only the encoder "
                "spikes, or as networks converted from trained conventional ones. Training spiking networks directly "
                "has become practical with surrogate gradients (Neftci et al., 2019). Deployment on neuromorphic "
                "chips, however, is rarely reported for dense prediction tasks, and energy figures are usually "
                "estimated from operation counts rather than measured.",
            ]),
            ("Network", [
                "The network has an encoder of four spiking convolutional layers, two recurrent spiking layers "
                "whose membrane potentials carry information across time, and a decoder that predicts flow at "
                "quarter resolution, followed by learned upsampling. Neurons are leaky integrate-and-fire units "
                "with learned time constants.",
                "Events are fed in as they come, grouped only by the time step of the network: each window of "
                "100 ms is divided into 10 time bins, and the network runs one step per bin. Training uses "
                "surrogate gradients through the spike function and backpropagation through time over one "
                "window, with the flow loss applied at the last bin.",
            ]),
            ("Experimental Setup", [
                "We train and evaluate on the driving sequences of the DSEC dataset, which provides event "
                "streams and ground-truth flow derived from lidar. The conventional baseline is a ConvGRU "
                "network with the same layer sizes, processing the same 10 bins as frames on a graphics "
                "processor.",
                "For deployment the trained spiking network is mapped without conversion onto an Intel Loihi 2 "
                "research chip, with weights quantized to 8 bits. We measure power at the chip's supply rails "
                "while it processes the test sequences in real time.",
            ]),
            ("Results", [
                "The spiking network reaches an average endpoint error of 0.82 pixels, against 0.74 for the "
                "ConvGRU baseline. On the Loihi 2 chip it draws 38 mW while keeping up with the event stream, "
                "whereas the baseline running on an embedded graphics module draws about 11 W for the same "
                "throughput.",
                "The recurrent state is what makes the spiking model work. Resetting the membrane potentials at "
                "every window, so that the network cannot carry motion information from one window to the next, "
                "raises the endpoint error to 1.15 pixels. Quantizing the weights to 8 bits for the chip costs "
                "0.02 pixels.",
            ]),
            ("Energy Analysis", [
                "Energy per inference follows activity. On still scenes the chip processes few events and its power "
                "falls close to its idle level; during fast driving it rises with the event rate. Over the test set, "
                "the average spike rate of the network's neurons is below five percent per time step, and the "
                "recurrent layers are the most active part of the network.",
                "We also estimated the energy of the spiking network on a conventional processor from its operation "
                "counts. Even there, sparse activity reduces the number of operations by an order of magnitude, but "
                "dense hardware cannot exploit this sparsity as well as the neuromorphic chip does.",
                "The latency from an event to an updated flow estimate is bounded by the time bin of 10 ms, since "
                "the network updates once per bin.",
            ]),
            ("Limitations", [
                "The spiking model breaks down under fast camera rotation. For rotations faster than 300 "
                "degrees per second the endpoint error roughly doubles, while the baseline degrades much less; "
                "the events then arrive faster than the learned time constants can follow. Night sequences, in "
                "which the sensor's noise events dominate, are also harder for the spiking model than for the "
                "baseline.",
                "Our energy comparison is between different hardware, not only between different networks, "
                "and part of the gap is due to the chip rather than to the spiking computation.",
            ]),
            ("Conclusion", [
                "A recurrent spiking network trained with surrogate gradients estimates optical flow from event "
                "streams nearly as accurately as a conventional recurrent network, and it runs on neuromorphic "
                "hardware at a small fraction of the power. Its recurrent state carries motion information across "
                "windows and is essential to its accuracy.",
                "Spiking models are not yet a drop-in replacement: they struggle with very fast motion and with "
                "noisy night scenes, and their training remains slower than that of conventional networks. We "
                "release the network, the training code and the mapping to the chip to make further comparisons on "
                "measured rather than estimated energy possible.",
            ]),
        ],
        references=[
            "G. Gallego, T. Delbruck, G. Orchard et al. Event-based vision: a survey. IEEE TPAMI, 2022.",
            "E. Neftci, H. Mostafa and F. Zenke. Surrogate gradient learning in spiking neural networks. IEEE "
            "Signal Processing Magazine, 2019.",
            "M. Gehrig, W. Aarents, D. Gehrig and D. Scaramuzza. DSEC: a stereo event camera dataset for driving "
            "scenarios. IEEE RA-L, 2021.",
            "M. Davies, N. Srinivasa, T. Lin et al. Loihi: a neuromorphic manycore processor with on-chip "
            "learning. IEEE Micro, 2018.",
        ],
    ),
    # 11 -----------------------------------------------------------------------------------------------
    dict(
        slug="canary-memorization",
        title="Canary Prompts: Measuring Memorization in Instruction-Tuned Language Models",
        authors=["Rebecca Osei", "Anton Kuznetsov", "Lea Fischer"],
        affiliation="Privacy and Security Group, Saarland University",
        year=2024, columns=2,
        abstract=(
            "Instruction-tuning data often contains private or licensed text, yet it is unclear how much of it "
            "a tuned model will reproduce. We insert unique canary records into an instruction-tuning set and "
            "measure how often the tuned model completes them when prompted with their first half. "
            "Memorization grows with the number of epochs and the number of times a record is repeated, and it "
            "depends on how the instruction template frames the record. Deduplicating the tuning set removes "
            "most of the measured leakage."
        ),
        sections=[
            ("Introduction", [
                "Instruction tuning adapts a pre-trained language model to follow requests by fine-tuning it on "
                "pairs of instructions and responses. The datasets used for this are assembled from many "
                "sources, including user conversations, support tickets and licensed documents, and they may "
                "contain personal data that the model should never repeat.",
                "Memorization in pre-training has been studied at length, but instruction tuning differs: it "
                "is short, it repeats its data for several epochs, and the same record can appear under several "
                "instruction templates. We measure memorization during instruction tuning directly, with canary "
                "records whose content cannot be guessed.",
            ]),
            ("Related Work", [
                "Canaries were introduced to measure unintended memorization in neural networks (Carlini et al., "
                "2019): a secret inserted into the training data is later searched for with the trained model. "
                "Extraction attacks on large language models then showed that models reproduce rare sequences of "
                "their pre-training data verbatim (Carlini et al., 2021), and deduplication of pre-training data was "
                "shown to reduce such reproduction (Lee et al., 2022).",
                "Instruction tuning has been studied mostly for its effect on helpfulness and safety. Its privacy "
                "risks are less understood, even though instruction data is more likely than web text to contain "
                "personal information, since it is often collected from users. Our study applies the canary "
                "methodology to this stage and asks which choices of the tuning recipe drive memorization.",
            ]),
            ("Canary Design", [
                "We create 500 canaries, each an instruction-tuning record whose response contains a 32-token "
                "random string together with an invented name and phone number. Because the strings are random, "
                "a model can complete a canary only if it memorized it. Canaries are inserted with between one "
                "and ten copies, and the copies of one canary use different instruction templates.",
                "After tuning, we prompt the model with the instruction and the first half of the canary's "
                "response and decode greedily. A canary counts as extracted when the model reproduces the rest "
                "of its random string exactly.",
            ]),
            ("Training Setup", [
                "The base model is a 7B-parameter decoder, tuned on 52,000 instructions plus the canaries for 3 "
                "epochs with a cosine schedule, which is a common recipe for open instruction-tuned models. "
                "Training used 64 TPU v4 chips and took about five hours per run, so we could repeat every "
                "configuration with three seeds.",
            ]),
            ("Results", [
                "After 3 epochs, canaries that appear once are extracted at a rate of 3.2%. The rate rises "
                "steeply with repetition: canaries repeated ten times are extracted 41% of the time. More epochs "
                "increase extraction at every level of repetition, and one epoch alone yields almost no "
                "extraction of single-copy canaries.",
                "Templates matter as well. When the copies of a canary all use the same template the "
                "extraction rate is about twice as high as when they use different templates, presumably "
                "because identical prompts make the record easier to recall verbatim.",
                "Deduplicating the tuning set by the response text, so that every canary appears once, lowers "
                "the overall extraction rate to 0.4%, removing most of the measured leakage at no cost in the "
                "quality of the tuned model on our instruction-following evaluation.",
            ]),
            ("Discussion", [
                "The results suggest simple precautions for anyone who tunes on sensitive data. Deduplication by "
                "response text is cheap and removes most of the leakage we measured. Fewer epochs reduce "
                "memorization at some cost in instruction-following quality, and the trade-off is worth measuring "
                "for each dataset. Using several templates for the same content, a common augmentation, lowers "
                "verbatim recall but does not remove it.",
                "Our measurements concern verbatim extraction of random strings, the worst case for an attacker who "
                "knows part of a record. Real personal data is less random and may be easier to guess; conversely, "
                "it is rarely repeated verbatim as often as our most repeated canaries.",
                "We did not find a template or a learning schedule that prevents memorization while keeping the "
                "tuned model's quality, and differentially private fine-tuning remains the only method with formal "
                "guarantees.",
            ]),
            ("Limitations", [
                "Our canaries are in English, and the tuning data is English only; tokenization and the "
                "frequency of near-duplicates differ across languages. We measure extraction with greedy "
                "decoding only, so an attacker who samples many completions would extract more than we report, "
                "and our rates are therefore lower bounds.",
            ]),
            ("Conclusion", [
                "Instruction tuning memorizes. With a common recipe, a record seen once is reproduced verbatim from "
                "half of its content a few percent of the time, and a record repeated ten times far more often. "
                "Epochs, repetition and templates all matter, and deduplicating the tuning data by response removes "
                "most of the measured leakage without hurting the tuned model.",
                "Canaries make these effects measurable at little cost: inserting a few hundred of them into a "
                "tuning run and testing for them afterwards is a cheap audit that any team tuning on sensitive data "
                "can run. We release our canary generator and evaluation scripts for this purpose.",
                "Open questions remain. We have studied one model size, and larger models are known to memorize more "
                "in pre-training; whether the same holds for instruction tuning, and how memorization interacts with "
                "later preference tuning, is left for future work. It would also be valuable to measure extraction "
                "with sampling and with prompts that paraphrase the canary's instruction rather than quote it.",
            ]),
        ],
        references=[
            "N. Carlini, C. Liu, U. Erlingsson et al. The secret sharer: evaluating and testing unintended "
            "memorization in neural networks. In USENIX Security, 2019.",
            "N. Carlini, F. Tramer, E. Wallace et al. Extracting training data from large language models. In "
            "USENIX Security, 2021.",
            "K. Lee, D. Ippolito, A. Nystrom et al. Deduplicating training data makes language models better. "
            "In ACL, 2022.",
            "R. Taori, I. Gulrajani, T. Zhang et al. Stanford Alpaca: an instruction-following LLaMA model. "
            "Technical report, 2023.",
        ],
        appendix=[
            ("Canary Format", [
                "Every canary asks the model to look up a contact in an address book and answers with a sentence "
                "that contains the invented name, the phone number and the random string. The random strings use the "
                "model's own vocabulary, sampled uniformly from tokens that do not start a new word, so that no "
                "canary can be completed from general knowledge.",
            ]),
            ("Instruction-Following Evaluation", [
                "To check that deduplication and the other variations do not degrade the tuned model, we evaluate "
                "every run on 800 held-out instructions, comparing its responses with those of the reference run by "
                "pairwise preference judgements of a separate judge model, with the order of the two responses "
                "randomised. A run counts as unchanged in quality when its win rate against the reference lies "
                "within the interval expected from the three seeds of the reference. Deduplicated runs and runs with "
                "fewer epochs were compared in this way; only the single-epoch runs fell below the reference.",
            ]),
        ],
    ),
    # 12 -----------------------------------------------------------------------------------------------
    dict(
        slug="adaptive-checkpointing",
        title="Adaptive Checkpoint Intervals for Training on Preemptible Instances",
        authors=["Nikhil Desai", "Clara Hoffmann"],
        affiliation="Cloud Systems Lab, University of Washington",
        year=2023, columns=1,
        abstract=(
            "Training on preemptible cloud instances is cheap, but every preemption loses the work done since "
            "the last checkpoint. The best checkpoint interval depends on how often preemptions happen, which "
            "changes with the time of day and the region. We estimate the preemption rate online, adapt the "
            "interval to it, and write checkpoints asynchronously so that training continues while they are "
            "uploaded. On real preemption traces, adaptive intervals lose far less work than any fixed interval."
        ),
        sections=[
            ("Introduction", [
                "Cloud providers sell spare capacity at a steep discount, on the condition that they may take "
                "it back at short notice. For training jobs that can resume from a checkpoint this trade is "
                "attractive, and several systems train large models on such instances. Each preemption, "
                "however, discards the work done since the last checkpoint, and each checkpoint costs time to "
                "write.",
                "The classical answer to this trade-off is Young's formula, which sets the interval to the "
                "square root of twice the checkpoint cost times the mean time between failures. The formula "
                "assumes that failures arrive at a constant rate. Preemptions do not: they cluster in the hours "
                "when the provider's regular customers need their capacity back, and their rate differs widely "
                "between regions.",
            ]),
            ("Related Work", [
                "Checkpointing is the standard defence against failures in long computations, and the choice of the "
                "checkpoint interval goes back to Young (1974) and Daly (2006), whose formulas assume failures that "
                "arrive at a constant rate. For deep learning, systems have reduced the cost of each checkpoint by "
                "copying state to memory first and persisting it in the background (Mohan et al., 2021), which makes "
                "frequent checkpoints affordable.",
                "Training on preemptible instances has been approached from several sides: elastic training that "
                "keeps running on whatever instances remain, pipeline schemes that tolerate the loss of workers "
                "(Ryabinin et al., 2023), and systems that choose instance types and regions by price and "
                "availability. Our work is complementary. It accepts preemptions as they come and minimises the work "
                "lost to them.",
            ]),
            ("Design", [
                "Our system keeps an online estimate of the preemption rate for every instance type and region "
                "it uses, as an exponentially weighted average of observed preemptions with a half-life of 6 "
                "hours. Whenever the estimate changes, the checkpoint interval is recomputed with Young's formula "
                "from the current rate and the measured cost of a checkpoint.",
                "Checkpoints are written asynchronously. The training state is first copied to host memory, "
                "which pauses training for a few seconds, and then uploaded to object storage in the background "
                "while training continues. A checkpoint counts as complete only when its upload has finished, "
                "so a preemption during an upload falls back to the previous checkpoint.",
            ]),
            ("Traces and Setup", [
                "We collected 31 days of preemption events from three regions of one cloud provider by running "
                "idle instances and logging when they were reclaimed. Over the whole period the mean time "
                "between preemptions was 2.7 hours, but it fell to about 40 minutes in the busiest hours of the "
                "working day.",
                "The training job is a 1.3B-parameter GPT-style language model trained on 32 NVIDIA V100 GPUs "
                "across 4 instances. Its checkpoint, weights and optimizer state together, is 41 GB, and "
                "uploading it to object storage takes 38 s, during which training continues. We replay the "
                "traces against the job in simulation, calibrated with measured step times and checkpoint "
                "costs.",
            ]),
            ("Results", [
                "With adaptive intervals the job loses 4.1% of its GPU time to preemptions and checkpointing "
                "together, against 11.6% for the best fixed interval, which is 30 minutes on these traces. "
                "Fixed intervals fail in both directions: short ones waste time writing checkpoints at night, "
                "when preemptions are rare, and long ones lose hours of work during the day.",
                "Asynchronous writing contributes about a third of the saving. With synchronous checkpoints and "
                "adaptive intervals the loss is 6.3%, since every checkpoint then stalls all 32 GPUs for the "
                "duration of the upload.",
            ]),
            ("Sensitivity", [
                "The half-life of the rate estimate trades responsiveness against noise. With a half-life of one "
                "hour the estimate follows the daily rhythm closely but reacts to single preemptions, shortening the "
                "interval after every one of them; with a half-life of a day it misses the rhythm altogether. Values "
                "between four and eight hours performed similarly on our traces.",
                "The benefit of adaptation grows with the variability of the preemption rate. In the region with the "
                "most regular preemptions, the best fixed interval came within a point of the adaptive one; in the "
                "region with the strongest daily rhythm, adaptation saved more than twice as much.",
                "Larger checkpoints shift the optimum towards longer intervals but do not change the ranking of the "
                "methods.",
            ]),
            ("Limitations", [
                "We ignore the short notice that some providers give before reclaiming an instance, which could "
                "be used to write a final checkpoint. Our model also treats preemptions of different instances "
                "as independent, whereas in our traces all instances of a job were sometimes reclaimed within "
                "the same minute; such correlated preemptions force a restart from the last complete checkpoint "
                "on fresh instances, and their frequency dominates the cost on the worst days.",
            ]),
            ("Conclusion", [
                "Preemptible instances make training cheaper only if little work is lost to preemptions. Because the "
                "preemption rate varies with the time of day and the region, no fixed checkpoint interval is good "
                "all the time. Estimating the rate online and recomputing the interval from it, together with "
                "asynchronous uploads, cuts the lost work to a fraction of what the best fixed interval loses on "
                "real traces.",
                "The method is simple to add to existing training code: it needs a hook that reports preemptions and "
                "a checkpoint routine that can write in the background. We release the preemption traces we "
                "collected so that other checkpointing schemes can be compared on the same data.",
            ]),
        ],
        references=[
            "J. Young. A first order approximation to the optimum checkpoint interval. Communications of the "
            "ACM, 1974.",
            "J. Daly. A higher order estimate of the optimum checkpoint interval for restart dumps. Future "
            "Generation Computer Systems, 2006.",
            "M. Ryabinin, T. Dettmers, M. Diskin and A. Borzunov. SWARM parallelism: training large models can "
            "be surprisingly communication-efficient. In ICML, 2023.",
            "J. Mohan, A. Phanishayee and V. Chidambaram. CheckFreq: frequent, fine-grained DNN checkpointing. "
            "In FAST, 2021.",
        ],
    ),
]


# ------------------------------------------------------------------------------------- specs and files


def _numbered(sections: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
    """Body sections with their numbers: "1 Introduction", "2 Related Work", ..."""
    return [(f"{i} {name}", paras) for i, (name, paras) in enumerate(sections, 1)]


def _lettered(sections: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
    """Appendix sections after the references: "A Serving Configuration", ... (the reader keeps them)."""
    return [(f"{chr(ord('A') + i)} {name}", paras) for i, (name, paras) in enumerate(sections)]


def _spec(paper: dict, pdfgen) -> object:
    """A `PaperSpec` from one paper's plain data, with metadata so the reader takes the title, authors and
    year from the document information (as for most LaTeX output)."""
    title = paper["title"]
    header = title if len(title) <= 60 else title[:57].rsplit(" ", 1)[0] + " ..."
    return pdfgen.PaperSpec(
        title=title,
        authors=", ".join(paper["authors"][:-1]) + " and " + paper["authors"][-1] if len(paper["authors"]) > 1
        else paper["authors"][0],
        affiliation=paper["affiliation"],
        abstract=paper["abstract"],
        sections=[pdfgen.Section(heading, list(paras)) for heading, paras in _numbered(paper["sections"])],
        references=[f"[{i}] {ref}" for i, ref in enumerate(paper["references"], 1)],
        appendix=[pdfgen.Section(heading, list(paras)) for heading, paras in _lettered(paper.get("appendix", []))],
        columns=paper["columns"],
        header=header,
        arxiv_stamp=paper.get("arxiv"),
        first_page_note=paper.get("note"),
        metadata={"title": title, "author": "; ".join(paper["authors"]), "creator": "LaTeX with hyperref",
                  "creation_date": datetime(paper["year"], 3, 1, tzinfo=UTC)},
    )


@functools.cache
def specs() -> dict[str, object]:
    """title -> PaperSpec, for the twelve papers."""
    pdfgen = _pdfgen()
    return {paper["title"]: _spec(paper, pdfgen) for paper in _PAPERS}


def titles() -> list[str]:
    return [paper["title"] for paper in _PAPERS]


def slug(title: str) -> str:
    """The file name stem of a paper's PDF."""
    return next(paper["slug"] for paper in _PAPERS if paper["title"] == title)


def write_collection(folder: Path | str, only: list[str] | None = None) -> list[Path]:
    """Write the PDFs (all twelve, or the titles in `only`) into `folder`; returns their paths."""
    pdfgen = _pdfgen()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    chosen = titles() if only is None else only
    return [pdfgen.write_pdf(folder / f"{slug(title)}.pdf", specs()[title]) for title in chosen]


# ------------------------------------------------------------------------------------- ground truth


def collapse(text: str) -> str:
    return " ".join(text.split())


def abstract_text(title: str) -> str:
    return collapse(next(p["abstract"] for p in _PAPERS if p["title"] == title))


def body_text(title: str) -> str:
    """The body as written (headings and paragraphs, the appendix included, references left out), whitespace
    collapsed."""
    paper = next(p for p in _PAPERS if p["title"] == title)
    parts = [*_numbered(paper["sections"]), *_lettered(paper.get("appendix", []))]
    return collapse(" ".join(f"{heading} {' '.join(paras)}" for heading, paras in parts))


def squash(text: str) -> str:
    """Lower case without whitespace and hyphens: a line-break hyphen or a different line break then does not
    matter when text is looked up in the laid-out pages."""
    return re.sub(r"[\s\-\u00ad]+", "", text).lower()


@functools.cache
def _page_texts(title: str) -> tuple[tuple[int, str], ...]:
    """(page, squashed text of that page's body lines) in order, from pdfgen's layout."""
    pages: dict[int, list[str]] = {}
    for page, line in _pdfgen().body_lines(specs()[title]):
        pages.setdefault(page, []).append(line)
    return tuple((page, squash(" ".join(lines))) for page, lines in sorted(pages.items()))


def pages_of(title: str, text: str) -> list[int]:
    """The PDF pages whose body prints `text` (two pages when it runs over a page break); [] when the body
    does not hold it."""
    needle = squash(text)
    if not needle:
        return []
    pages = _page_texts(title)
    found = [page for page, body in pages if needle in body]
    if found:
        return found
    for (page_a, a), (page_b, b) in zip(pages, pages[1:], strict=False):
        joined = a + b
        at = joined.find(needle)
        if at >= 0 and at < len(a) < at + len(needle):
            return [page_a, page_b]
    return []


def page_count(title: str) -> int:
    return max(page for page, _ in _pdfgen().body_lines(specs()[title], parts=("front", "body", "references")))
