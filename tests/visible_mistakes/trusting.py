"""Usual mistakes of lesson 06 (can the map be trusted?)."""

NOT_RESTORED_06 = ("modes not restored", [("module.training = mode", "pass")], ["train mode"])
TRUSTING_EXPLANATIONS = {
    "energy_shares": [
        ("overlaps counted twice", [("region = mask * (1 - taken)", "region = mask")],
         ["first mask only"]),
        ("elsewhere = outside the last mask only",
         [("shares.append(energy_pointing_game(maps, 1 - taken))",
           "shares.append(energy_pointing_game(maps, 1 - region))")], ["outside every mask"]),
    ],
    "to_saliency": [
        ("signed sum", [("attributions.abs().sum(dim=1)", "attributions.sum(dim=1)")],
         ["absolute value"]),
        ("maximum over channels", [("attributions.abs().sum(dim=1)",
                                    "attributions.abs().amax(dim=1)")], ["not take their maximum"]),
    ],
    "deletion_curve": [
        ("least salient first", [("descending=True, stable=True", "stable=True")],
         ["MOST salient"]),
        ("logits instead of probabilities",
         [("model(torch.where(replaced, baseline, images)).softmax(dim=1)",
           "model(torch.where(replaced, baseline, images))")], ["softmax probability"]),
        ("no column for the untouched image", [("range(steps + 1)", "range(1, steps + 1)")],
         ["column 0"]),
        ("image 0's target for every image", [("targets[:, None]", "targets[:1, None].expand(n, 1)")],
         ["own target"]),
        NOT_RESTORED_06,
    ],
    "insertion_curve": [
        ("deletion instead of insertion",
         [("deletion_curve(model, start, saliency, targets, steps, baseline=images)",
           "deletion_curve(model, images, saliency, targets, steps, baseline=start)")],
         ["column 0 is the baseline alone"]),
    ],
    "curve_auc": [
        ("x in steps", [("dx=1.0 / (curves.shape[1] - 1)", "dx=1.0")], ["not 1"]),
        ("mean of the points",
         [("torch.trapezoid(curves, dx=1.0 / (curves.shape[1] - 1), dim=1)",
           "curves.mean(dim=1)")], ["not the mean"]),
    ],
    "spearman": [
        ("values, not ranks", [("return map_correlation(average_ranks(maps_a), average_ranks(maps_b))",
                                "return map_correlation(maps_a.flatten(1), maps_b.flatten(1))")],
         ["not the values"]),
        ("ties get the lower rank", [("(below + at_most + 1).double() / 2",
                                      "(below + 1).double()")], ["expected"]),
    ],
    "cascading_randomisation": [
        ("randomises the caller's model", [("working = copy.deepcopy(model)", "working = model")],
         ["copy.deepcopy"]),
        ("one model object for every stage", [("copies.append(copy.deepcopy(working))",
                                               "copies.append(working)")], ["own deep copy"]),
        ("global seed", [("with torch.random.fork_rng(devices=[]):", "if True:")], ["fork_rng"]),
        ("not cumulative", [("working.get_submodule(name)",
                             "copy.deepcopy(model).get_submodule(name)")], ["not re-initialised"]),
    ],
}
