# The paper's domain analyses fitted by nlme itself, for tests/test_analysis_r.py to compare
# with legibility.analysis.domain_effects. The models are those of DOMAIN_MODELS (the paper's):
# outcome ~ 0/1 input indicators, a random intercept per Target, REML; R² models on the rows
# with r2 > 0 only.
#
# Usage: Rscript tests/r/domain_effects.R metrics_comparison_test.csv out.csv
# Needs R with nlme (Debian: apt-get install r-base-core r-cran-nlme).
suppressPackageStartupMessages(library(nlme))

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) stop("usage: Rscript domain_effects.R metrics.csv out.csv")
metrics <- read.csv(args[1], check.names = FALSE)
if ("Mode" %in% names(metrics)) metrics <- metrics[tolower(metrics$Mode) == "test", ]

# Published column -> formula name (the same names legibility.analysis gives them).
safe <- c("T1" = "T1", "DWI" = "DWI", "rsfMRI connectivity" = "Connectivity", "Serology" = "Serology",
          "Disease" = "Disease", "Psychology" = "Psychology", "Balanced accuracy" = "BA", "r2" = "R2")
published <- setNames(names(safe), safe)
d <- data.frame(Target = factor(metrics$Target), Domain = metrics$Domain)
for (flag in c("T1", "DWI", "rsfMRI connectivity", "Serology", "Disease", "Psychology"))
    d[[safe[[flag]]]] <- as.numeric(tolower(metrics[[flag]]) == "yes")
d$BA <- as.numeric(metrics[["Balanced accuracy"]])
d$R2 <- as.numeric(metrics[["r2"]])

imaging <- c("T1", "DWI", "rsfMRI connectivity")
models <- list(
    list("Constitutional", "Balanced accuracy", imaging),
    list("Psychology", "Balanced accuracy", c("Serology", "Disease", imaging)),
    list("Disease", "Balanced accuracy", c("Serology", "Psychology", imaging)),
    list("Serology", "Balanced accuracy", c("Disease", "Psychology", imaging, "T1:DWI")),
    list("Serology", "r2", c("Disease", "Psychology", imaging)),
    list("Serology", "r2", c("Disease", "Psychology", imaging, "T1:DWI"))
)

to_safe <- function(term) paste(safe[strsplit(term, ":", fixed = TRUE)[[1]]], collapse = ":")
to_published <- function(term) {
    if (term == "(Intercept)") return("Intercept")
    paste(published[strsplit(term, ":", fixed = TRUE)[[1]]], collapse = ":")
}

out <- list()
for (m in models) {
    domain <- m[[1]]; outcome <- m[[2]]; terms <- m[[3]]
    rows <- d[d$Domain == domain, ]
    if (outcome == "r2") rows <- rows[rows$R2 > 0, ]  # as the paper's script did
    rows$Target <- droplevels(rows$Target)
    f <- as.formula(paste(safe[[outcome]], "~", paste(sapply(terms, to_safe), collapse = " + ")))
    fit <- lme(f, random = ~ 1 | Target, data = rows, method = "REML")
    tt <- summary(fit)$tTable
    ci <- intervals(fit, which = "fixed")$fixed
    vc <- as.numeric(VarCorr(fit)[, "Variance"])
    out[[length(out) + 1]] <- data.frame(
        domain = domain, outcome = outcome,
        formula = paste(outcome, "~", paste(terms, collapse = " + ")),
        term = sapply(rownames(tt), to_published), coef = tt[, "Value"], se = tt[, "Std.Error"],
        df = tt[, "DF"], t = tt[, "t-value"], p = tt[, "p-value"], ci_low = ci[, "lower"],
        ci_high = ci[, "upper"], n = nrow(rows), n_targets = nlevels(rows$Target),
        tau2 = vc[1], sigma2 = vc[2], icc = vc[1] / (vc[1] + vc[2]), row.names = NULL)
}
write.csv(do.call(rbind, out), args[2], row.names = FALSE)
