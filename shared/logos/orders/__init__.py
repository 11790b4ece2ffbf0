"""From a strategy's target exposure to a quantized target position: sizing rules and the translator."""
