"""loss.backward() after zero_grad(): the right direction, but .grad is left holding it."""

REPLACE = {
    "loss_along_gradient": [
        (
            "grads = torch.autograd.grad(loss_fn(model(x), y), params)  # .grad untouched",
            "model.zero_grad()\n        loss_fn(model(x), y).backward()\n"
            "        grads = [p.grad.detach().clone() for p in params]",
        )
    ]
}
SCORE = (8, 8)
CELLS = {"loss_along_gradient_values_and_model_unchanged": (0, 0)}
MISTAKES = ["grad_changed"]
KIND = "mistake"
